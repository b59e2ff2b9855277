"""smsrelay: a self-hosted SMS platform speaking the SMS Partner v1 API."""

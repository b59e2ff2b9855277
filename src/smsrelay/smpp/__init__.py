"""SMPP 3.4, as smsrelay speaks it to operators and as the SMSC simulator answers it.

`pdu` frames PDUs and builds the bodies smpp34 has no API for (binds, responses);
`codec` is the one module that calls smpp34, for submit_sm and deliver_sm; `session` is
the asyncio protocol both sides run; `errors` is the exception tree; `text` cuts a text
into the short_message parts that are billed, and reads a received one back. smpp34's own
client is not used: it acknowledges a deliver_sm before our code sees it, and we may
acknowledge a receipt only once it is durably stored.
"""

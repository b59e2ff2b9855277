"""The v1 endpoints, one module per family.

The contract names a method per endpoint, but clients of the live service call reading
endpoints both ways, so every endpoint but the two sends answers GET and POST alike.
"""

from starlette.routing import Route

from smsrelay.api.endpoint import v1_endpoint
from smsrelay.api.routes import account, lookup, messages, sending, statuses

_BOTH = ["GET", "POST"]

V1_ROUTES = [
    Route("/v1/multi-status", v1_endpoint(statuses.multi_status), methods=_BOTH),
    Route("/v1/send", v1_endpoint(sending.send), methods=["POST"]),
    Route("/v1/bulk-send", v1_endpoint(sending.bulk_send), methods=["POST"]),
    Route("/v1/message-status", v1_endpoint(messages.message_status), methods=_BOTH),
    Route("/v1/bulk-status", v1_endpoint(messages.bulk_status), methods=_BOTH),
    Route("/v1/bulk-status-by-tag", v1_endpoint(messages.bulk_status_by_tag), methods=_BOTH),
    Route("/v1/message-cancel", v1_endpoint(messages.message_cancel), methods=_BOTH),
    Route("/v1/me", v1_endpoint(account.me), methods=_BOTH),
    Route("/v1/stop-sms/list", v1_endpoint(account.stop_list_all), methods=_BOTH),
    Route("/v1/stop-sms/add", v1_endpoint(account.stop_list_add), methods=_BOTH),
    Route("/v1/stop-sms/delete", v1_endpoint(account.stop_list_delete), methods=_BOTH),
    Route("/v1/lookup", v1_endpoint(lookup.lookup), methods=_BOTH),
]

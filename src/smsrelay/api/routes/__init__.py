"""The v1 endpoints, one module per family."""

from starlette.routing import Route

from smsrelay.api.endpoint import v1_endpoint
from smsrelay.api.routes import lookup, sending, statuses

V1_ROUTES = [
    Route("/v1/multi-status", v1_endpoint(statuses.multi_status), methods=["GET", "POST"]),
    Route("/v1/send", v1_endpoint(sending.send), methods=["POST"]),
    Route("/v1/bulk-send", v1_endpoint(sending.bulk_send), methods=["POST"]),
    Route("/v1/lookup", v1_endpoint(lookup.lookup), methods=["GET", "POST"]),
]

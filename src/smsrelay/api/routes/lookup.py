"""`/v1/lookup`: read the requested numbers, then describe each one."""

from __future__ import annotations

from smsrelay.api.endpoint import Call
from smsrelay.service.lookup import LookupAnswer, look_up, read_requests


async def lookup(call: Call) -> LookupAnswer:
    requests = read_requests(call.params.get("phoneNumbers"))
    return LookupAnswer(True, 200, await look_up(requests, call.account.region, call.language))

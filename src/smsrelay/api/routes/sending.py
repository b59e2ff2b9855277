"""`/v1/send` and `/v1/bulk-send`: accept, then wake the dispatcher."""

from __future__ import annotations

from smsrelay.api.endpoint import Call
from smsrelay.service import sending


async def send(call: Call) -> sending.SendAnswer:
    context = call.context
    answer = await sending.send(context.store, call.account, context.rules, call.params)
    context.wake_dispatcher()
    return answer


async def bulk_send(call: Call) -> sending.BulkAnswer:
    context = call.context
    answer = await sending.bulk_send(context.store, call.account, context.rules, call.params)
    context.wake_dispatcher()
    return answer

"""Status and cancel of sends already accepted: the endpoints that take a `messageId`."""

from __future__ import annotations

from smsrelay.api.endpoint import Call
from smsrelay.service import cancelling, recipient_status


async def message_status(call: Call) -> recipient_status.MessageStatusAnswer:
    context = call.context
    return await recipient_status.message_status(
        context.store, call.account, call.params, context.rules.currency
    )


async def bulk_status(call: Call) -> recipient_status.BulkStatusAnswer:
    return await recipient_status.bulk_status(call.context.store, call.account, call.params)


async def bulk_status_by_tag(call: Call) -> recipient_status.TagStatusAnswer:
    return await recipient_status.tag_status(call.context.store, call.account, call.params)


async def message_cancel(call: Call) -> cancelling.CancelAnswer:
    return await cancelling.cancel(call.context.store, call.account, call.params, call.language)

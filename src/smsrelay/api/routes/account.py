"""`/v1/me` and the opt-out list: what a customer reads and keeps about its own account."""

from __future__ import annotations

import time

from smsrelay.api.endpoint import Call
from smsrelay.service import accounts, stop_list


async def me(call: Call) -> accounts.MeAnswer:
    rules = call.context.rules
    return await accounts.me(
        call.context.store, call.account, rules.prices, rules.currency, time.time()
    )


async def stop_list_all(call: Call) -> stop_list.StopListAnswer:
    return await stop_list.list_stops(call.context.store, call.account)


async def stop_list_add(call: Call) -> stop_list.StopAddAnswer:
    return await stop_list.add_stop(call.context.store, call.account, call.params)


async def stop_list_delete(call: Call) -> stop_list.StopDeleteAnswer:
    return await stop_list.delete_stop(call.context.store, call.account, call.params)

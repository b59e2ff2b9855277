"""`/v1/multi-status`: the request-level checks, then the service."""

from __future__ import annotations

import msgspec

from smsrelay.api.endpoint import Call
from smsrelay.api.wire import MalformedBody, decode_json
from smsrelay.domain.problems import Problem, Refused
from smsrelay.service import statuses


class MultiStatusAnswer(msgspec.Struct):
    success: bool
    code: int
    StatutResponse_List: list[statuses.StatusItem]  # the contract's name


def _as_list(raw: object) -> object:
    """A list sent as a JSON string (a query string cannot nest) is read as that list; a
    string that is not one stays a string, refused as not a list (6)."""
    if isinstance(raw, str) and raw.lstrip().startswith("["):
        try:
            return decode_json(raw)
        except MalformedBody:
            return raw
    return raw


async def multi_status(call: Call) -> MultiStatusAnswer:
    items = _as_list(call.params.get("SMSStatut_List"))
    if items is None or items == "" or items == [] or items == {}:
        raise Refused(Problem.LIST_EMPTY)
    if not isinstance(items, list):
        raise Refused(Problem.BAD_FORMAT)
    if len(items) > statuses.MAX_PAIRS:
        raise Refused(Problem.TOO_MANY)
    if set(map(type, items)) != {dict}:
        raise Refused(Problem.BAD_FORMAT)
    answers = await statuses.multi_status(call.context.store, call.account, items, call.language)
    return MultiStatusAnswer(True, 200, answers)

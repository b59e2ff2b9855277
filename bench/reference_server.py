"""The simplest honest implementation of `POST /v1/multi-status`, as a yardstick.

Starlette + uvicorn (uvloop, httptools, no access log), one route. The JSON body is
decoded by msgspec straight into typed structs, the pairs go to SQLite in the very
statement smsrelay uses (`LOOKUP_STATUSES`), and the answer is encoded by msgspec in the
contract's shape. What it leaves out on purpose, because smsrelay has to do it and the
difference is what `bench/multi_status.py` measures: the API key check (the account id is
fixed on the command line), reading phone numbers in any form (requests carry E.164),
per-item validation and error codes other than 4, XML, form bodies.

    python bench/reference_server.py --port 8001 --database PATH --account 1
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
from pathlib import Path

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smsrelay.domain.status import PUBLIC_BY_VALUE
from smsrelay.service.statuses import FailedStatus, FoundStatus
from smsrelay.store.sqlite import LOOKUP_STATUSES

_FLAG = ("0", "1")
_NOT_FOUND = "Numéro introuvable"


class Pair(msgspec.Struct, rename="camel"):
    phone_number: str
    message_id: int


class Body(msgspec.Struct):
    statut_list: list[Pair] = msgspec.field(name="SMSStatut_List")


class Answer(msgspec.Struct):
    success: bool
    code: int
    statut_list: list[FoundStatus | FailedStatus] = msgspec.field(name="StatutResponse_List")


_decode_body = msgspec.json.Decoder(Body).decode
_encode = msgspec.json.Encoder().encode


def create_app(database: Path, account_id: int) -> Starlette:
    db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")

    async def multi_status(request: Request) -> Response:
        try:
            body = _decode_body(await request.body())
        except msgspec.DecodeError:
            return Response(b'{"success":false,"code":90}', 400, media_type="application/json")
        requested = [(pair.message_id, pair.phone_number) for pair in body.statut_list]
        rows = db.execute(LOOKUP_STATUSES, (_encode(requested).decode(), account_id))
        found = {(row[0], row[1]): row[2:] for row in rows}
        items: list[FoundStatus | FailedStatus] = []
        for message_id, phone in requested:
            row = found.get((message_id, phone))
            if row is None:
                items.append(FailedStatus(False, 4, phone, message_id, _NOT_FOUND))
            else:
                state, status_at, stop_sms, is_spam = row
                items.append(
                    FoundStatus(
                        True,
                        200,
                        phone,
                        message_id,
                        PUBLIC_BY_VALUE[state],
                        str(status_at),
                        _FLAG[stop_sms],
                        _FLAG[is_spam],
                    )
                )
        return Response(_encode(Answer(True, 200, items)), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v1/multi-status", multi_status, methods=["POST"]),
            Route("/health", health),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", type=Path, required=True, help="SQLite file")
    parser.add_argument("--account", type=int, required=True, help="account id answered for")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    uvicorn.run(
        create_app(args.database, args.account),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()

"""What every v1 endpoint shares, so that handlers only see an account and parameters.

`v1_endpoint` reads the body within its size limit, merges query and body parameters
(the body wins), chooses JSON or XML, authenticates the key, and turns a refusal (or a
fault of ours) into the documented error body, in the format asked for whenever it
could be read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from smsrelay.api.errors import error_body, http_status
from smsrelay.api.formats import JSON_MEDIA_TYPE, XML_MEDIA_TYPE, encode_json, encode_xml
from smsrelay.api.wire import MalformedBody, decode_body, decode_query
from smsrelay.config import Settings
from smsrelay.domain.problems import Language, Problem, Refused
from smsrelay.domain.records import Account
from smsrelay.service.accounts import authenticate
from smsrelay.service.sending import SendingRules
from smsrelay.store import StoreError
from smsrelay.store.base import ApiStore

log = logging.getLogger(__name__)

_ENCODERS: dict[str, tuple[Callable[[Any], bytes], str]] = {
    "json": (encode_json, JSON_MEDIA_TYPE),
    "xml": (encode_xml, XML_MEDIA_TYPE),
}


@dataclass
class Context:
    """What a handler may use: built once at start-up, shared by every request."""

    settings: Settings
    store: ApiStore
    # A send was stored: deliver it now. Never raises (the send is answered 200 whatever
    # the state of delivery: a client must not send it again and pay twice).
    wake_dispatcher: Callable[[], None]
    rules: SendingRules


@dataclass
class Call:
    """One authenticated request, as a handler sees it."""

    context: Context
    account: Account
    params: dict[str, Any]

    @property
    def language(self) -> Language:
        return "en" if self.account.language == "en" else "fr"


Handler = Callable[[Call], Awaitable[Any]]


def render(value: Any, fmt: str, status: int = 200) -> Response:
    encode, media_type = _ENCODERS[fmt]
    return Response(encode(value), status, media_type=media_type)


def render_refusal(refused: Refused, fmt: str, language: Language) -> Response:
    return render(error_body(refused, language), fmt, http_status(refused.problem))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed `limit`, never read whole.

    A body cut short with its connection (the client left, sent a broken chunk, or was
    too slow) is refused as malformed, an answer that goes nowhere: the connection is
    gone, and the server's side of it (api/http_server.py) has answered what could be
    answered and logged what happened, in one line.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(Problem.BODY_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(Problem.BODY_TOO_LARGE)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise Refused(Problem.MALFORMED) from exc
    return b"".join(chunks)


def _format_of(params: dict[str, Any]) -> str:
    fmt = params.get("_format")
    if fmt is None or fmt == "":
        return "json"
    if not isinstance(fmt, str) or fmt.lower() not in _ENCODERS:
        raise Refused(Problem.BAD_FORMAT)
    return fmt.lower()


def v1_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        context: Context = request.app.state.context
        language: Language = context.settings.language
        query = decode_query(request.scope["query_string"])
        fmt = "json"
        try:
            fmt = _format_of(query)
            body = await read_body(request, context.settings.max_body_bytes)
            # Multipart is neither of the two body forms the API reads; left to the form
            # parser it would pass for a form with odd names and lose the key.
            if request.headers.get("content-type", "").startswith("multipart/"):
                raise Refused(Problem.MALFORMED)
            try:
                params = query | decode_body(body)
            except MalformedBody as exc:
                raise Refused(Problem.MALFORMED) from exc
            fmt = _format_of(params)
            account = await authenticate(context.store, params.get("apiKey"))
            call = Call(context, account, params)
            language = call.language
            return render(await handler(call), fmt)
        except Refused as refused:
            return render_refusal(refused, fmt, language)
        except StoreError as exc:
            log.warning("database unavailable for %s: %s", request.url.path, exc)
            return render_refusal(Refused(Problem.BUSY), fmt, language)
        except Exception:
            log.exception("unexpected fault in %s %s", request.method, request.url.path)
            return render_refusal(Refused(Problem.INTERNAL), fmt, language)

    endpoint.__name__ = handler.__name__
    return endpoint

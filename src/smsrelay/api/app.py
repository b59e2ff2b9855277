"""The Starlette application and its lifespan: the store and the delivery engine.

`/health` is what a load balancer or a supervisor asks: 200 while the API can accept and
a delivery engine runs, 503 with the reason while none does (a send is still accepted
then, and delivered once the engine is back: a balancer may keep the node).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smsrelay.api.endpoint import Context, render, render_refusal
from smsrelay.api.routes import V1_ROUTES
from smsrelay.composition import api_parts
from smsrelay.config import Settings
from smsrelay.domain.problems import Problem, Refused
from smsrelay.service.sending import SendingRules


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    problem = {404: Problem.NO_SUCH_ENDPOINT, 405: Problem.METHOD_NOT_ALLOWED}.get(
        status, Problem.INTERNAL
    )
    settings: Settings = request.app.state.context.settings
    return render_refusal(Refused(problem), "json", settings.language)


async def _health(request: Request) -> Response:
    problem: str | None = request.app.state.delivery.problem
    if problem is not None:
        return render({"status": "unavailable", "reason": problem}, "json", 503)
    return render({"status": "ok"}, "json")


def create_app(settings: Settings) -> Starlette:
    """The application; the store and the delivery engine live as long as its lifespan.

    Raises ConfigError at once for settings that cannot be used (a bad price file).
    """
    rules = SendingRules.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with api_parts(settings) as (store, delivery):
            app.state.delivery = delivery
            app.state.context = Context(settings, store, delivery.wake, rules)
            # Everything built until now (modules, phone metadata, the app) lives as long
            # as the process: out of the collector's sight, full collections stay short
            # instead of pausing requests for 20-30 ms.
            gc.collect()
            gc.freeze()
            yield

    app = Starlette(
        routes=[Route("/health", _health), *V1_ROUTES],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_exception, Exception: _http_exception},
    )
    # `/v1/send/` is no route: a coded 404 like any other, not a redirect to a URL built
    # from the client's own Host header.
    app.router.redirect_slashes = False
    return app

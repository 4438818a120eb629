"""The app factory: the API's routers mounted over one qrun app. 127.0.0.1 by default;
writes only with the configured bearer token. FastAPI publishes the OpenAPI document at
/openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from qrun.core.errors import QrunError

from ..app import App
from ..refusals import http_status
from . import batches, dashboard, jobs, metrics, queues, workflows
from .dashboard.guard import Refused
from .dashboard.sessions import Sessions
from .errors import RESPONSES
from .limits import BodyLimit


def create_api(app: App, *, token: str | None) -> Any:
    """The API's ASGI app, its bodies capped at the app's `max_body_bytes`."""
    return BodyLimit(fastapi_app(app, token=token), app.config.http.max_body_bytes)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each wrong field; the values given are not echoed (they may be
    secrets, or not even JSON, like Infinity)."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e["loc"]), "msg": _message(e), "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":  # R-I4: refused, never ignored
        return "unknown field; the fields this body takes are in /openapi.json (a misspelt name?)"
    return str(error["msg"])


async def _http_error(request: Request, exc: Exception) -> Response:
    """As FastAPI answers, except that a 405's Allow lists every method of the path:
    Starlette lists only those of the first route whose path matched."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    path = request.url.path
    allowed = sorted(
        {
            m
            for r in request.app.routes
            if isinstance(r, APIRoute) and r.path_regex.match(path)
            for m in (r.methods or ())
        }
    )
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(allowed)})


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    """What qrun refused, with why, at the status its kind maps to (`refusals`)."""
    assert isinstance(exc, QrunError)
    return JSONResponse({"detail": str(exc)}, status_code=http_status(exc))


def fastapi_app(app: App, *, token: str | None) -> FastAPI:
    api = FastAPI(title="qrun", summary="durable job execution", version="0.1.0")
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(QrunError, _refused)
    api.state.qrun = app
    api.state.token = token
    api.state.sessions = Sessions(token, ttl_s=app.config.http.session_ttl_s) if token else None
    api.state.trusted_origins = tuple(o.lower().rstrip("/") for o in app.config.http.trusted_origins or ())
    api.add_exception_handler(Refused, dashboard.refused)
    api.state.metrics = metrics.registry_for(app)
    api.include_router(queues.health, responses=RESPONSES)
    api.include_router(dashboard.router)
    for module in (queues, jobs, batches, workflows, metrics):
        api.include_router(module.router, responses=RESPONSES)
    return api

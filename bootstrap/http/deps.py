"""What every route depends on: the app it serves, and the bearer token. With a token
configured every route but /healthz needs it; without one the API only reads (and the
configuration allows that only on a loopback address)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..app import App

_bearer = HTTPBearer(auto_error=False, description="the daemon's api_token (QRUN_API_TOKEN)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def the_app(request: Request) -> App:
    app: App = request.app.state.qrun
    return app


def _valid(given: HTTPAuthorizationCredentials | None, token: str) -> bool:
    offered = given.credentials if given is not None else ""
    return hmac.compare_digest(offered.encode(), token.encode())  # constant time


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query(request: Request) -> None:
    """A query parameter the endpoint does not take is refused, not ignored: `?stauts=`
    would otherwise list every job as if it had filtered them."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    repeated = sorted({n for n in request.query_params if len(request.query_params.getlist(n)) > 1})
    if repeated:
        msg = "given more than once; give each query parameter once"
        raise HTTPException(422, [{"loc": ["query", n], "msg": msg, "type": "repeated"} for n in repeated])
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no query parameters"
        msg = f"unknown query parameter; this takes {takes}"
        raise HTTPException(
            422, [{"loc": ["query", n], "msg": msg, "type": "extra_forbidden"} for n in unknown]
        )


def reader(request: Request, credentials: Credentials) -> None:
    token: str | None = request.app.state.token
    if token and not _valid(credentials, token):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")


def writer(request: Request, credentials: Credentials) -> None:
    token: str | None = request.app.state.token
    if not token:
        raise HTTPException(403, "writes are disabled: set QRUN_API_TOKEN to enable them")
    if not _valid(credentials, token):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")


AppDep = Annotated[App, Depends(the_app)]
READ = [Depends(reader), Depends(known_query)]
WRITE = [Depends(writer)]

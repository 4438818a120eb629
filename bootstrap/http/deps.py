"""What every route depends on: the app it serves, and the writer's token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from ..app import App


def the_app(request: Request) -> App:
    app: App = request.app.state.qrun
    return app


def writer(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    token: str | None = request.app.state.token
    if not token:
        raise HTTPException(403, "writes are disabled: set QRUN_API_TOKEN to enable them")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")


AppDep = Annotated[App, Depends(the_app)]
WRITE = [Depends(writer)]

"""Signing in and out (R-I3). The token is entered once on /ui/login, which starts a
signed, expiring session of its own (`sessions`); the token never reaches the browser."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from .guard import Refused, form, guard, same_origin, session
from .render import render
from .sessions import COOKIE

auth = APIRouter(include_in_schema=False)


@auth.get("/ui/login")
def login_form(request: Request) -> Response:
    nxt = request.query_params.get("next", "/")
    return render(request, "login.html", "Sign in", live=False, signed_in=False, next=nxt)


@auth.post("/ui/login")
async def login(request: Request) -> Response:
    same_origin(request)  # no session yet to hold a CSRF token: the origin must match
    given = await form(request)
    token: str | None = request.app.state.token
    offered, nxt = given.get("token", ""), given.get("next", "/")
    if not token or not hmac.compare_digest(offered.encode(), token.encode()):
        why = "This daemon has no API token: the dashboard only reads." if not token else "Wrong token."
        return render(
            request, "message.html", "Sign in", live=False, signed_in=False, status_code=401, message=why
        )
    cookie, _ = request.app.state.sessions.start()
    response = RedirectResponse(
        nxt if nxt.startswith("/") and not nxt.startswith("//") else "/", status_code=303
    )
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(request.app.state.sessions.ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@auth.post("/ui/logout", dependencies=[Depends(guard)])
def logout(request: Request) -> Response:
    current = session(request)
    if current is not None:
        request.app.state.sessions.end(current)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def refused(request: Request, exc: Exception) -> Response:
    """A refused action, as a page: what was wrong and what to do."""
    assert isinstance(exc, Refused)
    return render(
        request,
        "message.html",
        "Refused",
        live=False,
        signed_in=False,
        status_code=exc.status_code,
        message=exc.why,
        sign_in=exc.status_code == 401,
    )

"""Who may act through the dashboard (R-I3): a request from the dashboard's own pages,
in a live session, carrying that session's CSRF token. A page on another origin (another
port of the same host included: SameSite cookies do not separate ports) cannot make a
signed-in browser act, however it builds its form."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from qrun.core.errors import QrunError

from .sessions import COOKIE, Session, Sessions


class Refused(QrunError):
    """An action refused before it did anything; `why` says what to do instead."""

    def __init__(self, status_code: int, why: str) -> None:
        super().__init__(why)
        self.status_code, self.why = status_code, why


def session(request: Request) -> Session | None:
    """This request's session, read (its signature checked) once per request: the gate,
    the page and each form's CSRF field all ask."""
    if not hasattr(request.state, "session"):
        sessions: Sessions | None = request.app.state.sessions
        found = sessions.read(request.cookies.get(COOKIE)) if sessions is not None else None
        request.state.session = found
    current: Session | None = request.state.session
    return current


def same_origin(request: Request) -> None:
    """Refuse a request a browser says came from elsewhere. Browsers send Sec-Fetch-Site
    and Origin with every form POST; a client that sends neither (curl) is no browser
    that another site could drive, and still needs the session and its CSRF token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Refused(403, f"Refused: this request came from another site (Sec-Fetch-Site: {site}).")
    origin = request.headers.get("origin")
    if origin is None:
        return
    trusted: tuple[str, ...] = request.app.state.trusted_origins
    host = request.headers.get("host", "").lower()
    if origin.lower().rstrip("/") in trusted:
        return
    if origin == "null" or urlsplit(origin).netloc.lower() != host:
        raise Refused(
            403,
            f"Refused: this request came from {origin}, not from this dashboard ({host}). Behind a "
            "proxy that rewrites the Host header, list the public origin in QRUN_TRUSTED_ORIGINS.",
        )


async def form(request: Request) -> dict[str, str]:
    """The POSTed form's fields (the first value of each)."""
    parsed = parse_qs((await request.body()).decode(errors="replace"))
    return {k: v[0] for k, v in parsed.items()}


async def guard(request: Request) -> None:
    """Every action's gate, in the order a user can act on: a token to sign in with, a
    request from here, a session, the form's CSRF token."""
    if not request.app.state.token:
        raise Refused(
            403, "Actions need an API token (QRUN_API_TOKEN); without one the dashboard only reads."
        )
    same_origin(request)
    current = session(request)
    if current is None:
        raise Refused(401, "Sign in with the API token first (the session may have expired).")
    given = (await form(request)).get("csrf", "")
    if not hmac.compare_digest(given.encode(), current.csrf.encode()):
        raise Refused(
            403, "Refused: this form's CSRF token is missing or stale; reload the page and try again."
        )

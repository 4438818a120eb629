"""Pages from templates: one Jinja2 environment, autoescaped, strict about missing values,
and the context every page shares (the signed-in session's CSRF token, the flash note)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from ...app import App
from .guard import session

NAV = (
    ("/", "Overview"),
    ("/ui/jobs", "Jobs"),
    ("/ui/pools", "Pools"),
    ("/ui/workflows", "Workflows"),
    ("/ui/schedules", "Schedules"),
)


def url(href: str, **query: Any) -> str:
    """`href` with the query's given values (empty ones left out)."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return href + ("?" + urlencode(given) if given else "")


def _utc_ms(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]


def _utc_s(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every value, in text and in attributes
    undefined=jinja2.StrictUndefined,  # a name a page misses is an error, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(nav=NAV, url=url)
ENV.filters.update(utc_ms=_utc_ms, utc_s=_utc_s)


def app_of(request: Request) -> App:
    app: App = request.app.state.qrun
    return app


def render(
    request: Request,
    template: str,
    title: str,
    *,
    live: bool = True,
    status_code: int = 200,
    signed_in: bool | None = None,
    **context: Any,
) -> HTMLResponse:
    """`template` for this request: the whole page, or only <main>'s content when the
    page's live script asks (`X-Qrun-Fragment`). `signed_in=False` renders a page as to
    a stranger (sign-in and refusals): no session, no CSRF token."""
    current = session(request) if signed_in is not False else None
    html = ENV.get_template(template).render(
        title=title,
        live=live,
        note=request.query_params.get("note", ""),
        fragment=bool(request.headers.get("x-qrun-fragment")),
        signed_in=current is not None,
        csrf=current.csrf if current is not None else None,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)

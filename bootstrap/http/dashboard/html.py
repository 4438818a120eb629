"""Small HTML builders: every value escaped, one layout, tables and forms."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from .assets import CSS, SCRIPT

NAV = (
    ("/", "Overview"),
    ("/ui/jobs", "Jobs"),
    ("/ui/pools", "Pools"),
    ("/ui/workflows", "Workflows"),
    ("/ui/schedules", "Schedules"),
)


#: Where a form's CSRF field goes (`guard.with_csrf` fills it per request): a comment, so
#: no escaped value can spell it.
CSRF_SLOT = "<!--qrun:csrf-->"


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def page(title: str, body: str, *, signed_in: bool, live: bool = True, note: str = "") -> str:
    links = "".join(f'<a href="{href}">{e(name)}</a>' for href, name in NAV)
    who = (
        f'<form method="post" action="/ui/logout">{CSRF_SLOT}<button>Sign out</button></form>'
        if signed_in
        else '<a href="/ui/login">Sign in</a>'
    )
    flash = f'<p class="note" role="status">{e(note)}</p>' if note else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · qrun</title><style>{CSS}</style></head>
<body><header><strong>qrun</strong><nav aria-label="main">{links}</nav>{who}</header>
<main id="main" data-live="{"1" if live else "0"}"><h1>{e(title)}</h1>{flash}{body}</main>
<script>{SCRIPT}</script></body></html>"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "") -> str:
    """`rows` hold HTML already (escape values with `e`)."""
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    rows_html = body or empty(len(headers))
    inner = f"{cap}<thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody>"
    return f'<div class="scroll"><table>{inner}</table></div>'


def empty(columns: int) -> str:
    return f'<tr><td colspan="{columns}" class="muted">nothing here</td></tr>'


def link(href: str, text: Any, **query: Any) -> str:
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return f'<a href="{e(href + ("?" + urlencode(given) if given else ""))}">{e(text)}</a>'


def action(path: str, label: str, *, confirm: str | None = None) -> str:
    """A button that POSTs to `path`; `confirm` asks first (for what cannot be undone)."""
    ask = f' data-confirm="{e(confirm)}"' if confirm else ""
    button = f"<button>{e(label)}</button>"
    return f'<form method="post" action="{e(path)}" class="inline"{ask}>{CSRF_SLOT}{button}</form>'


def status(value: str) -> str:
    return f'<span class="status {e(value)}">{e(value)}</span>'


def pre(text: Any) -> str:
    return f"<pre>{e(text)}</pre>"

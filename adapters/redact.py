"""Passwords never leave the process in clear (R-I2). A database URL or a libpq keyword
string may carry one; everything qrun prints, logs, serves or raises about a database
goes through `mask` first, and the daemon's log handler masks every line again, so a
message written by a library (psycopg, a traceback) is caught as well."""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:PASSWORD@host: the password ends at the last '@' before the host part
# (an unencoded '@' inside a password is common enough to allow), never crossing
# whitespace or a quote.
_URL = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)(?P<secret>[^\s'\"]*)@")
# password=VALUE or password='quoted value' in a libpq keyword string, and the same
# keyword as a URL query parameter (?password=...).
_KEYWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)


def mask(text: str) -> str:
    """`text` with every password a URL or a libpq keyword carries replaced by ***."""
    masked = _URL.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", masked)

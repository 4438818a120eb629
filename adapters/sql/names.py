"""Table prefixes and schema names are spliced into SQL, so they must be plain identifiers."""

from __future__ import annotations

import re

from qrun.core.errors import InvalidInput

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def identifier(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise InvalidInput(
            f"{what} {value!r} is not allowed: use lower-case letters, digits and underscores, "
            "starting with a letter or underscore, at most 41 characters"
        )
    return value

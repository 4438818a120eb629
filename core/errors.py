"""The root of the errors qrun raises on purpose.

`except QrunError` catches every one of them, and nothing else: a bug (a TypeError in
qrun's own code, say) is never mistaken for bad input. Each error's message says what
was wrong and how to fix it. Errors that are also a kind of Python error keep that kind
too (a malformed payload is a QrunError and a ValueError).
"""

from __future__ import annotations


class QrunError(Exception):
    """Something qrun refused or could not do, with a message saying why."""

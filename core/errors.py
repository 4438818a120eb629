"""The root of the errors qrun raises on purpose, and the kinds every layer shares.

`except QrunError` catches every one of them, and nothing else: a bug (a TypeError in
qrun's own code, say) is never mistaken for bad input. Each error's message says what
was wrong and how to fix it. Errors that are also a kind of Python error keep that kind
too (a malformed payload is a QrunError and a ValueError), so code that caught the Python
kind before still does. tests/unit/test_errors.py walks the code and refuses a bare
`raise ValueError(...)` (or TypeError, RuntimeError, LookupError, KeyError, Exception):
each refusal is one of these, or a subclass named for what went wrong.

The CLI's exit codes and the HTTP API's status codes are read from the kind, in one
place (`qrun.bootstrap.refusals`).
"""

from __future__ import annotations


class QrunError(Exception):
    """Something qrun refused or could not do, with a message saying why."""


class InvalidInput(QrunError, ValueError):
    """A value given to qrun is malformed or out of range: a job's field, a payload, a
    policy, a name, a cron expression, a setting. Nothing was stored."""


class InvalidCall(QrunError, TypeError):
    """qrun was called the wrong way: an argument by position that goes by name, an
    option or a field it does not have."""


class AlreadyDefined(InvalidInput):
    """A name declared twice: a task, a handler, a workflow, a schedule."""


class NotFound(QrunError, LookupError, ValueError):
    """Nothing by that name: no such job, batch, workflow, task or runner. (A ValueError
    too, as these refusals were before they had a kind of their own.)"""


class Unsupported(QrunError, ValueError):
    """What was asked needs something this store or app does not offer (joining the
    caller's transaction, the workflow ports)."""

"""How a refusal reads at each door: one table for the CLI's exit codes and one for the
HTTP API's status codes, both keyed by the kind of `QrunError` (`core.errors`). The
first kind in a table that the error is an instance of wins; anything else qrun refuses
falls to the last row. An exception that is not a `QrunError` is a bug: the CLI shows
its traceback and the API answers 500."""

from __future__ import annotations

from qrun.core.errors import InvalidCall, InvalidInput, NotFound, QrunError, Unsupported
from qrun.core.ports import (
    BatchNotFinished,
    DuplicateEvent,
    DuplicateJob,
    NameTaken,
    SchemaVersionError,
    StoreUnreachable,
    UniqueConflict,
    UnknownDependency,
)

from .usecases.tasks import JobNotFinished

#: Every refusal exits 1, as scripts test it (`|| ...`); a wait that timed out exits
#: 124, as `timeout(1)` does. (Click's own usage errors exit 2.)
EXIT_CODES: tuple[tuple[type[QrunError], int], ...] = (
    (JobNotFinished, 124),
    (QrunError, 1),
)

HTTP_STATUS: tuple[tuple[type[QrunError], int], ...] = (
    (NotFound, 404),
    (DuplicateJob, 409),
    (UniqueConflict, 409),
    (BatchNotFinished, 409),
    (NameTaken, 409),
    (DuplicateEvent, 409),
    (StoreUnreachable, 503),
    (SchemaVersionError, 503),
    (Unsupported, 501),
    (UnknownDependency, 422),
    (InvalidInput, 422),
    (InvalidCall, 422),
    (QrunError, 422),
)


def exit_code(error: QrunError) -> int:
    """The CLI's exit code for `error`."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def http_status(error: QrunError) -> int:
    """The HTTP status for `error`."""
    return next(code for kind, code in HTTP_STATUS if isinstance(error, kind))

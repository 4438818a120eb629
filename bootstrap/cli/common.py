"""What every command shares: how it finds its app, and how a refusal is reported."""

from __future__ import annotations

from typing import Any

import click

from qrun.core.errors import QrunError

from ..app import App
from ..config import load
from ..refusals import exit_code
from ..wiring import open_app

#: What a refused request raises: printed as its message, never a traceback, with the
#: exit code its kind maps to (`refusals`). Anything else is a bug, shown as one.
REFUSED = QrunError


def app_for(ctx: click.Context, *, create: bool = False, wait: bool = False, **settings: Any) -> App:
    """The app for this invocation. `create`: make (or bring up to date) the embedded
    SQLite file first; a PostgreSQL schema is only ever made by `qrun migrate`. `wait`
    (the daemon): a database that is down is waited for (`startup_wait_s`), not refused."""
    try:
        config = load(ctx.obj["config"], database_url=ctx.obj["db"], app=ctx.obj.get("app"), **settings)
        app = open_app(config, create=create, wait=wait)
        ctx.call_on_close(app.close)  # every store the command opened is closed as it ends
        if config.app:
            return app  # the application's own, with its code
    except REFUSED as exc:
        raise refused(exc) from None
    app.knows_workflows = False  # the application's code (its workflows) is not loaded here
    return app


class _Refusal(click.ClickException):
    """A refusal, printed as its message, exiting with the code its kind maps to."""

    def __init__(self, error: QrunError) -> None:
        super().__init__(str(error))
        self.code = exit_code(error)

    @property  # click declares it a class variable; each refusal has its own
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code


def refused(exc: QrunError) -> click.ClickException:
    return _Refusal(exc)

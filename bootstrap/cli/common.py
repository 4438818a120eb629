"""What every command shares: how it finds its app, and how a refusal is reported."""

from __future__ import annotations

from typing import Any

import click

from qrun.core.ports import StoreError

from ..app import App
from ..config import ConfigError, load
from ..wiring import open_app

#: What a refused request raises: printed as its message, exit 1, never a traceback.
REFUSED = (ConfigError, StoreError, ValueError)


def app_for(ctx: click.Context, *, create: bool = False, wait: bool = False, **settings: Any) -> App:
    """The app for this invocation. `create`: make (or bring up to date) the embedded
    SQLite file first; a PostgreSQL schema is only ever made by `qrun migrate`. `wait`
    (the daemon): a database that is down is waited for (`startup_wait_s`), not refused."""
    try:
        config = load(ctx.obj["config"], database_url=ctx.obj["db"], app=ctx.obj.get("app"), **settings)
        app = open_app(config, create=create, wait=wait)
        if config.app:
            return app  # the application's own, with its code
    except REFUSED as exc:
        raise click.ClickException(str(exc)) from None
    app.knows_workflows = False  # the application's code (its workflows) is not loaded here
    return app


def refused(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))

"""Handler runs of workflow sessions (R-D5, R-D7, R-D8) as rows, and the statements of
workflow errors (R-D2), for both SQL stores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from qrun.core.workflow import HandlerRun, Role, RunStatus

RUN_COLUMNS = (
    "session_id",
    "iteration",
    "handler",
    "role",
    "status",
    "cost",
    "error",
    "started_at",
    "finished_at",
)


def upsert(table: str, mark: str) -> str:
    cols = ", ".join(RUN_COLUMNS)
    marks = ", ".join(mark for _ in RUN_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in RUN_COLUMNS[3:])
    return (
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) "
        f"ON CONFLICT (session_id, iteration, handler) DO UPDATE SET {sets}"
    )


def select(table: str, mark: str) -> str:
    return f"SELECT {', '.join(RUN_COLUMNS[1:])} FROM {table} WHERE session_id = {mark}"


def row(session_id: str, run: HandlerRun, time_out: Callable[[datetime], Any]) -> tuple[Any, ...]:
    def t(value: datetime | None) -> Any:
        return None if value is None else time_out(value)

    return (
        session_id,
        run.iteration,
        run.handler,
        run.role.value,
        run.status.value,
        run.cost,
        run.error,
        t(run.started_at),
        t(run.finished_at),
    )


def run(r: Sequence[Any], time_in: Callable[[Any], datetime]) -> HandlerRun:
    iteration, handler, role, status, cost, error, started, finished = r
    return HandlerRun(
        iteration,
        handler,
        Role(role),
        RunStatus(status),
        None if cost is None else float(cost),
        error,
        None if started is None else time_in(started),
        None if finished is None else time_in(finished),
    )


def error_set(table: str, mark: str) -> str:
    """Arguments: name, error, since."""
    m = mark
    return (
        f"INSERT INTO {table} (name, error, since) VALUES ({m}, {m}, {m}) "
        "ON CONFLICT (name) DO UPDATE SET error = excluded.error, since = excluded.since"
    )


def error_clear(table: str, mark: str) -> str:
    return f"DELETE FROM {table} WHERE name = {mark}"


def errors(table: str) -> str:
    return f"SELECT name, error, since FROM {table} ORDER BY name"

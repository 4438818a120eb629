"""A JobFilter as a SQL WHERE clause, for either placeholder style."""

from __future__ import annotations

from typing import Any

from qrun.core.ports import JobFilter


def where_sql(where: JobFilter, mark: str) -> tuple[str, list[Any]]:
    """(`WHERE ...` or "", its arguments); `mark` is the driver's placeholder."""
    sql: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("status", where.status.value if where.status else None),
        ("queue", where.queue),
        ("kind", where.kind),
        ("batch", where.batch),
    ):
        if value is not None:
            sql.append(f"{column} = {mark}")
            args.append(value)
    if where.after is not None:
        sql.append(f"id {'<' if where.newest_first else '>'} {mark}")
        args.append(where.after)
    return (f"WHERE {' AND '.join(sql)}" if sql else ""), args

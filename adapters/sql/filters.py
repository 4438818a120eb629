"""A JobFilter as a SQL WHERE clause, for either placeholder style."""

from __future__ import annotations

from typing import Any

from qrun.core.ports import JobFilter


def where_sql(where: JobFilter, mark: str, table: str) -> tuple[str, list[Any]]:
    """(`WHERE ...` or "", its arguments); `mark` is the driver's placeholder, `table`
    the jobs table (a listing by time starts past the time of the job `after` names)."""
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
    if where.after is not None and where.by_time:
        past = "<" if where.newest_first else ">"
        # A job gone since makes the subquery NULL, and the page empty, as JobFilter.page says.
        sql.append(
            f"(requested_at, id) {past} ((SELECT requested_at FROM {table} WHERE id = {mark}), {mark})"
        )
        args += [where.after, where.after]
    elif where.after is not None:
        sql.append(f"id > {mark}")
        args.append(where.after)
    return (f"WHERE {' AND '.join(sql)}" if sql else ""), args

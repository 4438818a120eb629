"""The request bodies of the HTTP API, with the ranges `Job.new` enforces, so a request
out of range is refused with 422 naming the field, and the OpenAPI document says so. A
field the API does not know is refused too (R-I4): `"delay": 60` for `delay_s` would
otherwise make a job that runs now."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from qrun.core import Status
from qrun.core.job import MAX_ATTEMPTS, MAX_DELAY_S, MAX_LIMIT, MAX_NAME, MAX_PRIORITY

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
#: A user's name for something: printable, 1 to MAX_NAME characters.
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=PRINTABLE)]
#: The same, in a path (a job id, a queue, a batch, a workflow, a topic).
PathName = Annotated[str, Path(min_length=1, max_length=MAX_NAME, pattern=PRINTABLE)]
#: An optional one, as a filter.
QueryName = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME, pattern=PRINTABLE)]


class Body(BaseModel):
    """A request body: every field named here, nothing else (additionalProperties: false)."""

    model_config = ConfigDict(extra="forbid")


class SubmitBody(Body):
    kind: Name = Field(description='"command" (payload {"argv": [...]} or {"shell": "..."}) or a task name')
    payload: dict[str, Any] = Field(default_factory=dict)
    queue: Name = "default"
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="higher runs first")
    delay_s: float = Field(default=0.0, ge=0, le=MAX_DELAY_S, allow_inf_nan=False)
    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    concurrency_key: Name | None = None
    concurrency_limit: int = Field(default=1, ge=1, le=MAX_LIMIT)
    unique_key: Name | None = Field(default=None, description="if a job holds this key, its id is returned")
    unique_finished: list[Status] = Field(
        default_factory=list,
        description="finished states that keep holding the key (done, failed, cancelled)",
    )
    pool: Name | None = Field(default=None, description="a pool the job needs a slot of")
    batch: Name | None = None
    depends_on: list[Name] = Field(default_factory=list, description="ids of jobs that must be done first")
    on_dependency_failure: Literal["cancel", "wait"] = Field(
        default="cancel",
        description="when a dependency ends failed or cancelled: cancel this job too, or wait for a retry",
    )


class BatchBody(Body):
    jobs: list[SubmitBody] = Field(min_length=1, description="submitted in one transaction, all or none")
    batch: Name | None = Field(default=None, description="the batch id (default: a new one)")

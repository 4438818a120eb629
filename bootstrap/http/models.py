"""The request bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from qrun.core import Status


class SubmitBody(BaseModel):
    kind: str = Field(description='"command" (payload {"argv": [...]} or {"shell": "..."}) or a task name')
    payload: dict[str, Any] = Field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    delay_s: float = 0.0
    max_attempts: int = 3
    concurrency_key: str | None = None
    concurrency_limit: int = 1
    unique_key: str | None = Field(default=None, description="if a job holds this key, its id is returned")
    unique_finished: list[Status] = Field(
        default_factory=list,
        description="finished states that keep holding the key (done, failed, cancelled)",
    )
    pool: str | None = Field(default=None, description="a pool the job needs a slot of (R-E3)")
    batch: str | None = None


class BatchBody(BaseModel):
    jobs: list[SubmitBody] = Field(min_length=1, description="submitted in one transaction, all or none")
    batch: str | None = Field(default=None, description="the batch id (default: a new one)")

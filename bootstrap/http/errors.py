"""The body of every error the API sends, as its OpenAPI document declares it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="what was wrong: a sentence, or for a malformed request one entry per field"
    )


RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": why}
    for code, why in {
        400: "the request is malformed",
        401: "the bearer token is missing or wrong",
        403: "writes are disabled: no api_token is configured",
        404: "no such job, batch or workflow",
        409: "the request conflicts with the job's state",
        413: "the request body is too large",
        422: "a field is out of range or the request is refused, with why",
        501: "this store does not offer what the request needs",
        503: "the database cannot be reached, or its schema is not this version's",
    }.items()
}

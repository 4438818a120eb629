"""Jobs and repairs as plain JSON, for the CLI and the HTTP API alike."""

from __future__ import annotations

from typing import Any

from cattrs.preconf.json import make_converter
from qrun.core import Job

from .runtime.reaper import Repair

_json = make_converter()


def job_view(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = _json.unstructure(job)
    data["status"] = job.status.value
    return data


def repair_view(repair: Repair) -> dict[str, Any]:
    return {"job_id": repair.job_id, "found": repair.found, "done": repair.done, "at": repair.at.isoformat()}

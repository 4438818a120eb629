"""Where a job that holds a pool slot runs: the slot's directory and environment, laid
over the job's payload for the runner (the stored job is never changed)."""

from __future__ import annotations

import os
from typing import Any

import attrs
from qrun.core import Job
from qrun.core.pools import Placement


def place(job: Job, placement: Placement) -> Job:
    """`job` as its runner should see it: a command runs in the slot's directory (a
    relative `cwd` of the payload is taken inside it) with the slot's environment added;
    a container gets the environment. Every job learns its pool and slot from
    QRUN_POOL / QRUN_POOL_SLOT."""
    held = job.holding
    if held is None:
        return job
    env = {"QRUN_POOL": held[0], "QRUN_POOL_SLOT": str(held[1]), **placement.env}
    payload: dict[str, Any] = dict(job.payload)
    if job.kind == "command":
        if placement.cwd is not None:
            given = payload.get("cwd")
            payload["cwd"] = os.path.join(placement.cwd, given) if isinstance(given, str) else placement.cwd
        payload["env"] = {**env, **(payload.get("env") or {})}
    elif job.kind == "container":
        payload["env"] = {**env, **(payload.get("env") or {})}
    else:
        return job  # a python task's payload is its arguments; it reads job.pool_slot if it must
    return attrs.evolve(job, payload=payload)

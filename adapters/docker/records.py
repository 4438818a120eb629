"""The exits of collected containers, kept on disk after the containers are removed.

Collecting a container is destructive (its output is copied out, then it is removed), so
what it said is written down first: a worker that dies between collecting and writing
the job's end leaves a record its successor adopts, instead of a missing container that
reads as a run to start again. One record per run folder (found by job and run, for
adoption) and one per container id (found by handle, for `wait`, `observe` and the
reaper's `exit_code`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qrun.core.errors import InvalidInput
from qrun.core.ports import Exit

from ..runners.monitor import write_atomic
from ..storage.private import private_dir

FILE = "exit.json"


class ExitRecords:
    def __init__(self, runs_dir: Path) -> None:
        self.by_id = runs_dir / "container-exits"

    def save(self, container_id: str, run_folder: Path, done: Exit) -> None:
        """Write both records, each atomically; raises (a full disk, say) if it cannot."""
        data = {
            "container": container_id,
            "code": done.code,
            "result": done.result,
            "error": done.error,
            "transient": done.transient,
            "final": done.final,
        }
        private_dir(self.by_id)
        write_atomic(run_folder / FILE, data, sync=True)
        write_atomic(self.by_id / f"{_safe(container_id)}.json", data, sync=True)

    def of_container(self, container_id: str) -> Exit | None:
        data = _read(self.by_id / f"{_safe(container_id)}.json")
        return _exit(data) if data is not None else None

    def of_run(self, run_folder: Path) -> tuple[str, Exit] | None:
        data = _read(run_folder / FILE)
        return (str(data["container"]), _exit(data)) if data is not None else None


def _safe(container_id: str) -> str:
    if not container_id.isalnum():
        raise InvalidInput(f"not a container id: {container_id!r}")
    return container_id


def _exit(data: dict[str, Any]) -> Exit:
    return Exit(
        code=int(data["code"]),
        result=data.get("result"),
        error=data.get("error"),
        transient=bool(data.get("transient")),
        final=bool(data.get("final")),
    )


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None

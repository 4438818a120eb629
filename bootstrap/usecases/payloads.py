"""A payload a runner would refuse is refused at submit, on every path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qrun.adapters.runners.command import CommandSpec


def check_payload(kind: str, payload: Mapping[str, Any] | None) -> None:
    if kind == "command":
        CommandSpec.from_payload(payload or {})
    elif kind == "container":
        from qrun.adapters.docker.spec import ContainerSpec

        ContainerSpec.from_payload(payload or {})

"""Carrying out the external effects that several loops share."""

from __future__ import annotations

from collections.abc import Iterable

from qrun.core import Handle
from qrun.core.ports import Runner


def kill(runners: Iterable[Runner], handle: Handle) -> bool:
    """Stop the execution behind `handle` with the runner that made it (named in it)."""
    for runner in runners:
        if runner.name == handle.runner:
            runner.kill(handle)
            return True
    return False

"""What a command job asks to run, read from its payload with clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from qrun.core.errors import InvalidInput


class InvalidPayload(InvalidInput):
    """The job's payload does not describe a command; the message says how to fix it."""


@attrs.frozen
class CommandSpec:
    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    timeout_s: float | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CommandSpec:
        """`{"argv": [...]}`, or `{"shell": "..."}` for an explicit shell command; with
        optional `cwd`, `env` (added to the worker's environment) and `timeout_s`."""
        argv, shell = payload.get("argv"), payload.get("shell")
        if (argv is None) == (shell is None):
            raise InvalidPayload(
                'a command job needs exactly one of "argv" (a list of strings, run without a shell) '
                'or "shell" (a string, run by /bin/sh -c, only when you ask for it)'
            )
        if shell is not None:
            if not isinstance(shell, str) or not shell.strip():
                raise InvalidPayload('"shell" must be a non-empty string')
            args: tuple[str, ...] = ("/bin/sh", "-c", shell)
        else:
            if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
                raise InvalidPayload('"argv" must be a non-empty list of strings, e.g. ["echo", "hi"]')
            args = tuple(argv)
        cwd = payload.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise InvalidPayload('"cwd" must be a string path')
        env = payload.get("env")
        if env is not None and not (
            isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise InvalidPayload('"env" must map strings to strings')
        timeout = payload.get("timeout_s")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidPayload('"timeout_s" must be a positive number of seconds')
        return cls(args, cwd, env, float(timeout) if timeout is not None else None)

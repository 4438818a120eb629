"""What a container job asks to run, read from its payload with clear errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..runners.command import InvalidPayload

_MEMORY = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
NETWORKS = ("none", "bridge", "host")


@attrs.frozen
class ContainerSpec:
    image: str
    argv: tuple[str, ...] | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)
    workdir: str | None = None
    memory: str | None = None  # "256m"
    cpus: float | None = None
    network: str = "none"
    timeout_s: float | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ContainerSpec:
        """`{"image": "name:tag", "argv": [...]}` with optional `env`, `workdir`,
        `memory` ("256m"), `cpus` (0.5), `network` ("none" unless asked) and `timeout_s`."""
        image = payload.get("image")
        if not isinstance(image, str) or not image.strip():
            raise InvalidPayload('a container job needs "image": a non-empty image name, e.g. "busybox:1"')
        argv = payload.get("argv")
        if argv is not None and (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)):
            raise InvalidPayload('"argv" must be a list of strings (omit it to run the image\'s command)')
        env = payload.get("env", {})
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise InvalidPayload('"env" must map strings to strings')
        workdir = payload.get("workdir")
        if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
            raise InvalidPayload('"workdir" must be an absolute path inside the container')
        memory = payload.get("memory")
        if memory is not None and (not isinstance(memory, str) or not _MEMORY.match(memory)):
            raise InvalidPayload('"memory" must look like "256m" or "1g"')
        cpus = payload.get("cpus")
        if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0):
            raise InvalidPayload('"cpus" must be a positive number, e.g. 0.5')
        network = payload.get("network", "none")
        if network not in NETWORKS:
            raise InvalidPayload(f'"network" must be one of {", ".join(NETWORKS)} (default none)')
        timeout = payload.get("timeout_s")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidPayload('"timeout_s" must be a positive number of seconds')
        return cls(
            image,
            tuple(argv) if argv is not None else None,
            dict(env),
            workdir,
            memory,
            float(cpus) if cpus is not None else None,
            network,
            float(timeout) if timeout is not None else None,
        )

"""What a job's process sees of the daemon's environment: the names on an allow-list,
never the daemon's own QRUN_* settings (its API token, its database URL with a password),
plus what the job itself asks for."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

#: Enough for a shell, a locale and a temporary directory; anything else a job needs it
#: names in its payload (`env`), or the operator adds to `job_env`.
INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
)


def job_environment(
    allow: Iterable[str], given: Mapping[str, str] | None, *, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    source = os.environ if source is None else source
    inherited = {k: source[k] for k in allow if k in source and not k.startswith("QRUN_")}
    return {**inherited, **(given or {})}

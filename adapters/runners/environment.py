"""What a job's processes see of the daemon's environment (R-I1). A command sees the
names on an allow-list, never the daemon's own QRUN_* settings (its API token, its
database URL with a password), plus what the job itself asks for. Its monitor, which a
command can read as its parent (/proc/$PPID/environ), sees less still: what a Python
interpreter needs to start, nothing of the daemon's."""

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

#: The monitor's whole environment: where its interpreter finds qrun, a locale, and the
#: crash-point hooks of the tests (crashpoints.ENV, ONCE_ENV), which hold no secret.
MONITOR = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "PYTHONHOME",
    "QRUN_TEST_CRASH_AT",
    "QRUN_TEST_CRASH_ONCE",
)


def job_environment(
    allow: Iterable[str], given: Mapping[str, str] | None, *, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    source = os.environ if source is None else source
    inherited = {k: source[k] for k in allow if k in source and not k.startswith("QRUN_")}
    return {**inherited, **(given or {})}


def monitor_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a command's monitor starts with: built, never inherited."""
    source = os.environ if source is None else source
    return {k: source[k] for k in MONITOR if k in source}

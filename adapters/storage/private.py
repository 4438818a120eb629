"""Files the daemon writes for a job (its spec with its environment, its inputs, its
output and logs) are readable by the daemon's user alone: 0600 files in 0700 folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any


def private_dir(path: Path) -> Path:
    """`path` and any missing parents made 0700; an existing folder is left as it is
    (an operator may have shared it on purpose)."""
    try:  # the common case, a new folder in one that exists: one call
        path.mkdir(mode=0o700)
        return path
    except FileExistsError:
        return path
    except FileNotFoundError:
        pass
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    return path


def open_private(path: Path, mode: str = "wb") -> IO[Any]:
    """`open(path, mode)`, creating the file 0600 whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), mode)


def write_private(path: Path, data: str | bytes) -> None:
    with open_private(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)

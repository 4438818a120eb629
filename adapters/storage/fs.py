"""Input storage on the local filesystem (R-A8): ROOT/<job>/<name>. A key can never
escape ROOT: job ids are percent-encoded into one path segment, and a name must be a
plain file name."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from qrun.core.errors import InvalidInput

from .private import private_dir, write_private

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


class UnsafeKey(InvalidInput):
    """An input name that could leave the storage root; the message says what is allowed."""


class FsInputStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = private_dir(Path(root).resolve())
        self._root = str(self.root)

    def dir(self, job_id: str) -> Path:
        # One encoded segment ("/" is encoded; the prefix rules out "." and ".."), joined
        # to the resolved root: nothing to resolve per call (this runs for every job).
        path = self.root / ("j-" + quote(job_id, safe=""))
        if path.parent != self.root or not path.name.startswith("j-"):  # cannot happen; checked anyway
            raise UnsafeKey(f"job id {job_id!r} would leave {self.root}")
        return path

    def _file(self, job_id: str, name: str) -> Path:
        if not _NAME.match(name) or name in (".", ".."):
            raise UnsafeKey(
                f"input name {name!r} is not allowed: use 1-200 letters, digits, '.', '_' or '-' "
                "(no slashes), and not '.' or '..'"
            )
        return self.dir(job_id) / name

    def put(self, job_id: str, name: str, data: bytes) -> None:
        path = self._file(job_id, name)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f".{name}.tmp")
        write_private(tmp, data)
        os.replace(tmp, path)

    def get(self, job_id: str, name: str) -> bytes:
        return self._file(job_id, name).read_bytes()

    def names(self, job_id: str) -> list[str]:
        d = self.dir(job_id)
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []

    def delete(self, job_id: str) -> None:
        """Runs for every job that ends: most have no inputs, so a plain string path and
        one stat, before anything costlier."""
        path = os.path.join(self._root, "j-" + quote(job_id, safe=""))
        if os.path.lexists(path):
            shutil.rmtree(self.dir(job_id), ignore_errors=True)

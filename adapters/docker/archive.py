"""Safe extraction of a container's output (a tar stream from the engine).

Nothing may land outside the archive root: absolute names, `..` components, symlinks and
hard links (which could point anywhere), device files and FIFOs are refused, and the
total size is capped. A refusal names the member and the rule it broke; the partial
extraction is removed, never left half-written.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, cast

from qrun.core.errors import InvalidInput

from ..storage.private import open_private, private_dir

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class UnsafeArchive(InvalidInput):
    """An archive member would escape the root or is not a plain file or directory."""


def extract(
    chunks: Iterable[bytes], dest: Path, *, strip: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[str]:
    """Extract the tar stream `chunks` into `dest` (created; must not exist). `strip`: a
    leading directory to drop from every name (the engine prefixes the copied folder's
    name). Returns the extracted file names, relative to `dest`."""
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    private_dir(staging.parent)
    staging.mkdir(mode=0o700)
    root = staging.resolve()
    reader = _Stream(chunks)
    written: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=cast(Any, reader), mode="r|") as tar:
            for member in tar:
                rel = _relative(member.name, strip)
                if rel is None:
                    continue
                if not (member.isfile() or member.isdir()):
                    kind = (
                        "symlink" if member.issym() else "hard link" if member.islnk() else "device or fifo"
                    )
                    raise UnsafeArchive(
                        f"archive member {member.name!r} is a {kind}; only files and folders are archived"
                    )
                target = (root / rel).resolve()
                if root not in target.parents and target != root:
                    raise UnsafeArchive(f"archive member {member.name!r} would land outside {dest}")
                if member.isdir():
                    private_dir(target)
                    continue
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchive(
                        f"output is larger than the cap of {max_bytes} bytes (at {member.name!r})"
                    )
                private_dir(target.parent)
                source = tar.extractfile(member)
                assert source is not None
                with open_private(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                written.append(str(rel))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return written


def _relative(name: str, strip: str | None) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    parts = [p for p in path.parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} has a '..' component")
    if strip is not None and parts and parts[0] == strip:
        parts = parts[1:]
    return PurePosixPath(*parts) if parts else None


class _Stream:
    """A read()-able view of an iterable of byte chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

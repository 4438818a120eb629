"""A lock held through an open file (flock): the kernel releases it when its holder
dies, however it dies, so a name held this way is held only by a live process.

The holder removes its file when it lets go, and a file whose holder died is removed by
the next daemon that looks (R-I5: nothing piles up). Removing a lock file is safe only
because every taker checks, once it holds the lock, that the path still names the file
it locked: one who locked a file just removed goes round again."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from qrun.core.ports import NameTaken

#: How long a lock must stay held before it counts as a live holder's: a daemon clearing
#: a dead holder's file holds it for microseconds, a live daemon for its whole life.
HELD_S = 0.25


def _names(path: Path, fd: int) -> bool:
    """Whether `path` still names the file `fd` has open."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev)


def _take(path: Path, *, patience_s: float = HELD_S) -> int | None:
    """An fd holding `path`'s lock, or None if a live process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + patience_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                locked = False
            if not _names(path, fd):
                break  # removed by its last holder or a cleaner meanwhile: go round again
            if locked:
                return fd
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.01)
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


class FileHold:
    """Held while `path` still names the locked file: a file removed by hand (or by a
    cleaner of /tmp) lets another process lock a new one under the same name."""

    def __init__(self, path: Path, fd: int) -> None:
        self._path, self._fd = path, fd

    def held(self) -> bool:
        return _names(self._path, self._fd)


@contextmanager
def file_lock(path: Path, taken: Callable[[str], str], *, siblings: str | None = None) -> Iterator[FileHold]:
    """Hold `path` while the context is open; NameTaken (`taken(the holder's pid)`) if a
    live process holds it. The file is private (0600), and removed when let go. First,
    the lock files matching `siblings` beside it whose holders died are removed."""
    if siblings is not None:
        clear_stale(path.parent, siblings)
    fd = _take(path)
    if fd is None:
        raise NameTaken(taken(_holder(path)))
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield FileHold(path, fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still holding it: whoever opened it meanwhile goes round again
        os.close(fd)  # releases the lock


def clear_stale(folder: Path, pattern: str) -> int:
    """Remove the lock files matching `pattern` in `folder` whose holders are dead (their
    daemon was killed before it could remove them); how many were removed."""
    removed = 0
    for path in folder.glob(pattern):
        fd = _take(path, patience_s=0)
        if fd is None:
            continue  # a live daemon's
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
        os.close(fd)
    return removed

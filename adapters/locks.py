"""A lock held through an open file (flock): the kernel releases it when its holder
dies, however it dies, so a name held this way is held only by a live process."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from qrun.core.ports import NameTaken


@contextmanager
def file_lock(path: Path, taken: Callable[[str], str]) -> Iterator[None]:
    """Hold `path` while the context is open; NameTaken (`taken(the holder's pid)`) if a
    live process holds it. The file is private (0600) and left in place: removing a
    lock file races whoever opens it next."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise NameTaken(taken(holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock

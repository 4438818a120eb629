"""One thread that learns when this process's monitors end, by their pidfds (Linux 5.3
and later), instead of a thread per run: a command then costs no thread start, and a
daemon running hundreds of commands holds one waiting thread, not hundreds."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import threading
from collections.abc import Callable


class ExitWatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._pending: list[tuple[int, subprocess.Popen[bytes], Callable[[], None]]] = []

    @staticmethod
    def open(proc: subprocess.Popen[bytes]) -> int | None:
        """A pidfd of `proc`, taken right after it starts (before anything can reap it and
        its pid be reused), or None where the kernel offers none."""
        opener = getattr(os, "pidfd_open", None)
        if opener is None:
            return None
        try:
            fd: int = opener(proc.pid)
        except OSError:
            return None
        return fd

    def add(self, pidfd: int, proc: subprocess.Popen[bytes], callback: Callable[[], None]) -> None:
        """Call `callback` (on the watching thread) once `proc` has ended and is reaped."""
        with self._lock:
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
                self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._selector.register(self._wake_r, selectors.EVENT_READ)
                threading.Thread(target=self._run, name="qrun-exits", daemon=True).start()
            self._pending.append((pidfd, proc, callback))
        with contextlib.suppress(BlockingIOError):  # a wake-up is already waiting
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while True:
            for key, _ in selector.select():
                if key.fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                    with self._lock:
                        added, self._pending = self._pending, []
                    for pidfd, proc, callback in added:
                        selector.register(pidfd, selectors.EVENT_READ, (proc, callback))
                    continue
                proc, callback = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                proc.wait()  # ended: this reaps it at once
                callback()

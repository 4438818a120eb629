"""The native monitor: monitor.c, built once per source with the machine's C compiler
into a private folder of the runs directory. A command then costs a fork and an exec
for its monitor instead of a Python start-up (about 50 ms of CPU); where no compiler
builds it, the Python monitor (monitor.py, the reference) runs instead."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

from qrun.core.errors import InvalidInput

from ..storage.private import private_dir

SOURCE = Path(__file__).with_name("monitor.c")
#: `auto`: native where it builds, else Python; `native`: native or refuse; `python`.
CHOICES = ("auto", "native", "python")
_lock = threading.Lock()


class NoNativeMonitor(InvalidInput):
    """`command_monitor = "native"` and monitor.c does not build here."""


def _trusted(path: Path) -> bool:
    """Ours alone to write: a binary we exec must not be replaceable by anyone else."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def build(folder: Path) -> tuple[Path | None, str]:
    """The native monitor under `folder` (built if missing), or None and why not."""
    source = SOURCE.read_bytes()
    target = folder / f"qrun-monitor-{hashlib.sha256(source).hexdigest()[:16]}"
    with _lock:
        if _trusted(folder) and _trusted(target) and os.access(target, os.X_OK):
            return target, ""
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            return None, "no C compiler (cc) on PATH"
        private_dir(folder)
        if not _trusted(folder):
            return None, f"{folder} is not the daemon user's alone"
        tmp = folder / f".build-{os.getpid()}-{threading.get_ident()}"
        try:
            done = subprocess.run(
                [compiler, "-O2", "-o", str(tmp), str(SOURCE)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{compiler} failed: {exc}"
        if done.returncode != 0:
            return None, f"{compiler} failed: {done.stderr.strip()[-2000:]}"
        os.chmod(tmp, 0o700)
        os.replace(tmp, target)  # whole or not at all, for every daemon sharing the folder
        return target, ""

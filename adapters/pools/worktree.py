"""A pool of git worktrees (R-E3): slot N is the worktree `<root>/slot-N` of one
repository, created on first use and reset to a clean checkout of `ref` before every
job that gets it, so no job sees what the previous one left behind.

A slot is held by one running job at a time (the store sees to that), so preparing
slot N never races with a job in it; creating worktrees touches the repository's
shared `.git/worktrees`, so that step is serialised by a file lock across processes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qrun.core.errors import InvalidInput, QrunError
from qrun.core.pools import Placement

from ..runners.environment import INHERITED, job_environment


class PoolPrepareError(QrunError):
    """A slot could not be made ready; the message names the pool, slot and git's error."""


class GitWorktreePool:
    def __init__(
        self,
        name: str,
        repo: str | os.PathLike[str],
        root: str | os.PathLike[str],
        *,
        ref: str = "HEAD",
        git: str = "git",
    ) -> None:
        self.name, self.ref, self._git = name, ref, git
        self.repo = Path(repo).resolve()
        self.root = Path(root).resolve()
        if self.root == self.repo:
            raise PoolPrepareError(f"pool {name}: the worktrees' root must not be the repository itself")
        if not (self.repo / ".git").exists() and not (self.repo / "HEAD").exists():
            raise PoolPrepareError(
                f"pool {name}: {self.repo} is not a git repository (set repo to a clone's directory)"
            )

    def path(self, slot: int) -> Path:
        if slot < 0:
            raise InvalidInput(f"pool {self.name}: slot must be >= 0, got {slot}")
        return self.root / f"slot-{slot}"

    def prepare(self, slot: int) -> Placement:
        """The slot's worktree, made (if new) and reset to a clean checkout of `ref`."""
        path = self.path(slot)
        commit = self._run(self.repo, "rev-parse", "--verify", f"{self.ref}^{{commit}}", slot=slot).strip()
        if not (path / ".git").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock():
                self._run(self.repo, "worktree", "prune", slot=slot)  # forget deleted ones
                if path.exists():  # a half-made or foreign directory: start it over
                    _remove(path)
                self._run(self.repo, "worktree", "add", "--force", "--detach", str(path), commit, slot=slot)
        else:
            # The store gives a slot to one running job at a time, so a lock git left here
            # is from a job or worker that died mid-command: stale, and safe to remove.
            gitdir = Path(self._run(path, "rev-parse", "--absolute-git-dir", slot=slot).strip())
            (gitdir / "index.lock").unlink(missing_ok=True)
            self._run(path, "checkout", "--force", "--detach", commit, slot=slot)
            self._run(path, "reset", "--hard", commit, slot=slot)
        self._run(path, "clean", "-ffdx", slot=slot)  # untracked and ignored files too
        return Placement(str(path), {"QRUN_WORKTREE": str(path), "QRUN_WORKTREE_COMMIT": commit})

    def _run(self, where: Path, *args: str, slot: int) -> str:
        try:
            done = subprocess.run(
                [self._git, "-C", str(where), *args],
                capture_output=True,
                check=False,  # the return code is turned into a message below
                text=True,
                timeout=300,
                # Built, not inherited: git needs a PATH and a HOME, not the daemon's secrets.
                env=job_environment(INHERITED, {"GIT_TERMINAL_PROMPT": "0"}),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PoolPrepareError(f"pool {self.name} slot {slot}: git {args[0]} failed: {exc}") from exc
        if done.returncode != 0:
            raise PoolPrepareError(
                f"pool {self.name} slot {slot}: git {' '.join(args)} failed: {done.stderr.strip()}"
            )
        return done.stdout

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with open(self.root / ".qrun-pool.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    shutil.rmtree(path)

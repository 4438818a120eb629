"""The tables of the configuration file: `[schedules.NAME]` and `[pools.NAME]`."""

from __future__ import annotations

import re
from typing import Any

import attrs

from .checks import ConfigError, positive

TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@attrs.frozen(kw_only=True)
class ScheduleConfig:
    """A periodic job (R-F6): a command (`argv` or `shell`) or a python `task` with `args`,
    fired at each slot of `cron` (UTC)."""

    cron: str  # five fields: minute hour day month weekday (checked with `seconds`)
    # A cron field for the second (e.g. "*/10"): more than one slot a minute.
    seconds: str | None = None
    argv: tuple[str, ...] | None = None
    shell: str | None = None
    task: str | None = None
    args: dict[str, Any] = attrs.field(factory=dict)
    queue: str = "default"
    priority: int = 0
    max_attempts: int = attrs.field(default=3, validator=positive)
    timeout_s: float | None = None

    def __attrs_post_init__(self) -> None:
        from ..runtime.periodic import cron_expression

        cron_expression(self.cron, self.seconds)  # raises, saying what is read and how to write it
        given = [n for n in ("argv", "shell", "task") if getattr(self, n)]
        if len(given) != 1:
            raise ConfigError(f"a schedule runs exactly one of argv, shell or task; got {given or 'none'}")

    def kind_and_payload(self) -> tuple[str, dict[str, Any]]:
        if self.task:
            return self.task, dict(self.args)
        payload: dict[str, Any] = {"argv": list(self.argv)} if self.argv else {"shell": self.shell}
        if self.timeout_s:
            payload["timeout_s"] = self.timeout_s
        return "command", payload


@attrs.frozen(kw_only=True)
class PoolConfig:
    """A resource pool (R-E3): `size` slots. `kind = "git-worktree"` makes slot N a
    worktree of `repo` under `root`, reset to a clean checkout of `ref` before each job;
    `kind = "slots"` is just a bound (GPUs, licences): jobs learn their slot from
    QRUN_POOL_SLOT."""

    size: int
    kind: str = "slots"
    repo: str | None = None
    root: str | None = None
    ref: str = "HEAD"

    def __attrs_post_init__(self) -> None:
        if isinstance(self.size, bool) or self.size < 0:
            raise ConfigError(f"size must be a whole number >= 0, got {self.size!r}")
        if self.kind not in ("slots", "git-worktree"):
            raise ConfigError(f'kind must be "slots" or "git-worktree", got {self.kind!r}')
        if self.kind == "git-worktree" and not self.repo:
            raise ConfigError('a "git-worktree" pool needs repo, the directory of a git clone')
        if self.kind == "slots" and (self.repo or self.root):
            raise ConfigError('repo and root are for kind = "git-worktree"')

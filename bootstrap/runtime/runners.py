"""The one registry of runners a process has: the runner of each job kind, shared (the
same object, never a copy) by the worker, the reaper, the applier's kills and the app,
so a task registered after wiring is runnable everywhere at once."""

from __future__ import annotations

from qrun.core.ports import ExitWatch, InProcess, Runner


class Runners(dict[str, Runner]):
    """`{job kind: runner}`; several kinds may share a runner (every python task's is
    the python runner). A handle names its runner, not its kind: `named` finds it."""

    def __init__(self, *args: object, **kwargs: Runner) -> None:
        super().__init__(*args, **kwargs)
        self._traits: dict[int, tuple[bool, bool]] = {}

    def named(self, name: str) -> Runner | None:
        """The runner called `name` (as a `Handle.runner` says), if this process has it."""
        return next((r for r in self.values() if r.name == name), None)

    def in_process(self, runner: Runner) -> bool:
        """Whether its runs live in this process (nothing to stamp: no handle outlives it)."""
        return self._of(runner)[0]

    def watches(self, runner: Runner) -> bool:
        """Whether it calls back when a run ends (`ExitWatch`), else it is polled."""
        return self._of(runner)[1]

    def _of(self, runner: Runner) -> tuple[bool, bool]:
        # Protocol checks are slow, and asked for every job.
        got = self._traits.get(id(runner))
        if got is None:
            got = (isinstance(runner, InProcess) and runner.in_process, isinstance(runner, ExitWatch))
            self._traits[id(runner)] = got
        return got

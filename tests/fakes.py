"""Fakes for unit tests of what sits around a port (never for a port's own contract)."""

import attrs

from qrun.adapters.memory import MemoryStore
from qrun.core import Handle, Liveness
from qrun.core.ports import Adopted, Exit, Gone


@attrs.define
class FakeRunner:
    name: str = "fake"
    spawned: list = attrs.Factory(list)
    killed: list = attrs.Factory(list)
    exits: dict = attrs.Factory(dict)  # handle ref -> Exit, once it has "ended"
    live: set = attrs.Factory(set)
    fail_spawn: Exception | None = None
    explode_for: set = attrs.Factory(set)  # job ids whose wait/observe raise

    def spawn(self, job, run):
        if self.fail_spawn:
            raise self.fail_spawn
        self.spawned.append(job.id)
        ref = f"{job.id}:{run.id}"
        self.live.add(ref)
        return Handle(self.name, ref)

    def adopt(self, job, run):
        ref = f"{job.id}:{run.id}"
        return Adopted(Handle(self.name, ref)) if ref in self.live or ref in self.exits else Gone()

    def observe(self, handle):
        self._maybe_explode(handle)
        return Liveness.ALIVE if handle.ref in self.live else Liveness.DEAD

    def wait(self, handle, timeout_s):
        self._maybe_explode(handle)
        return self.exits.get(handle.ref)

    def kill(self, handle):
        self.killed.append(handle.ref)

    def finish(self, job_id, code=0, error=None):
        """The execution of `job_id` ends with `code`."""
        ref = next(r for r in self.live if r.startswith(f"{job_id}:"))
        self.live.discard(ref)
        self.exits[ref] = Exit(code=code, error=error)

    def die(self, job_id):
        """The execution of `job_id` vanishes without an exit."""
        self.live = {r for r in self.live if not r.startswith(f"{job_id}:")}

    def _maybe_explode(self, handle):
        if handle.ref.split(":")[0] in self.explode_for:
            raise RuntimeError("runner exploded")


class CountingStore(MemoryStore):
    """The real memory store, counting the decisions of each batched write."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def apply_many(self, decisions):
        self.batches.append(len(decisions))
        return super().apply_many(decisions)

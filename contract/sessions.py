"""The handler runs of workflow sessions (R-D5, R-D7, R-D8), held for every store: what a
resumed session reads to continue at the right iteration, and to sum its cost."""

from __future__ import annotations

from typing import Any

from qrun.core.ports import SessionStore
from qrun.core.workflow import HandlerRun, Role, RunStatus, session_cost

from .base import StoreFixtures
from .builders import at


def run(iteration: int, handler: str, **kw: Any) -> HandlerRun:
    role = Role.PRODUCER if iteration == 0 else Role.CONSUMER
    kw.setdefault("status", RunStatus.OK)
    kw.update(started_at=at(iteration), finished_at=at(iteration + 0.5))
    return HandlerRun(iteration, handler, role, **kw)


class StoreSessions(StoreFixtures):
    def test_r_d8_handler_runs_come_back_in_iteration_order_with_every_field(
        self, store: SessionStore
    ) -> None:
        runs = [
            run(2, "c1", cost=0.5),
            run(0, "p1", cost=1.25, error=None),
            run(1, "c1", status=RunStatus.FAILED, error="boom"),
            run(0, "p2"),
        ]
        for r in runs:
            store.record_run("s1", r)
        store.record_run("s2", run(0, "p1"))
        got = store.handler_runs("s1")
        assert got == [runs[1], runs[3], runs[2], runs[0]]
        assert store.handler_runs("nope") == []

    def test_r_d7_the_sessions_cost_ignores_runs_without_one(self, store: SessionStore) -> None:
        for r in (run(0, "p1", cost=2.0), run(1, "c1"), run(2, "c1", cost=0.25)):
            store.record_run("s1", r)
        assert session_cost(store.handler_runs("s1")) == 2.25

    def test_r_d8_recording_a_run_again_replaces_it(self, store: SessionStore) -> None:
        store.record_run("s1", run(1, "c1", status=RunStatus.FAILED, error="crash"))
        store.record_run("s1", run(1, "c1", cost=3.0))
        [only] = store.handler_runs("s1")
        assert (only.status, only.cost, only.error) == (RunStatus.OK, 3.0, None)

    def test_r_d2_a_workflow_is_put_in_error_and_taken_out(self, store: SessionStore) -> None:
        store.set_workflow_error("etl", "producer p2 failed: boom", at(1))
        store.set_workflow_error("etl", "producer p1 failed: again", at(2))
        store.set_workflow_error("other", "x", at(3))
        assert dict(store.workflow_errors()) == {
            "etl": ("producer p1 failed: again", at(2)),
            "other": ("x", at(3)),
        }
        store.set_workflow_error("etl", None, at(4))
        store.set_workflow_error("never", None, at(4))
        assert list(store.workflow_errors()) == ["other"]

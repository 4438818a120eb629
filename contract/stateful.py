"""A hypothesis state machine that drives a store and the reference model (model.py) with
the same operations under one injected clock, and checks they agree after every step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from returns.result import Success

from qrun.core import (
    TERMINAL,
    Backoff,
    Claim,
    ClaimRequest,
    Decision,
    DependencyFailure,
    Job,
    Status,
    Unique,
    decide,
)
from qrun.core.decide import ENDS_DEPENDENTS
from qrun.core.ports import Applied, ApplyThenClaim, Conflict, JobFilter, StoreError, WorkflowStore
from qrun.core.topics import Settle, TopicEvent

from .base import POLICY, MakeStore
from .builders import T0
from .model import Model
from .strategies import WORKERS, gaps, next_event

ALL = JobFilter(limit=100_000)
uniques = st.none() | st.builds(
    Unique,
    st.sampled_from(["u1", "u2"]),
    st.sets(st.sampled_from(sorted(TERMINAL, key=str)), max_size=2),
)


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except StoreError as exc:
        return ("error", type(exc).__name__)


def _shape(result: Any) -> Any:
    return (type(result).__name__, result.job if isinstance(result, Applied) else result.current)


def run_against_reference(make_store: MakeStore, max_examples: int) -> None:
    class Agreement(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store: WorkflowStore = make_store()  # type: ignore[assignment]  # a JobStore; topics asked of it too
            self.ref = Model()  # plain rules, no indexes: see model.py
            self.now = T0
            self.ids: list[str] = []
            self.made = 0  # job ids handed out, so that a new id is never an old one
            self.seen: dict[str, Job] = {}  # an older version of each job, for stale writes
            self.events: list[str] = []

        @initialize()
        def start(self) -> None:
            assert self.store.list(ALL) == [], "make_store must return an empty store"

        @rule(data=st.data(), n=st.integers(1, 4))
        def submit(self, data: st.DataObject, n: int) -> None:
            jobs: list[Job] = []
            for _ in range(n):
                self.made += 1
                job_id = f"j{self.made:03d}"
                deps = (
                    data.draw(st.lists(st.sampled_from(self.ids), max_size=2, unique=True))
                    if self.ids
                    else []
                )
                if data.draw(st.integers(0, 19)) == 0:
                    deps.append("missing")
                jobs.append(
                    Job.new(
                        id=job_id,
                        kind="k",
                        now=self.now,
                        queue=data.draw(st.sampled_from(["a", "b"])),
                        priority=data.draw(st.integers(-2, 2)),
                        max_attempts=data.draw(st.integers(1, 3)),
                        available_at=self.now + timedelta(seconds=data.draw(st.integers(0, 30))),
                        concurrency_key=data.draw(st.none() | st.just("key")),
                        depends_on=tuple(deps),
                        on_dependency_failure=data.draw(st.sampled_from(list(DependencyFailure))),
                        unique=data.draw(uniques),
                        pool=data.draw(st.none() | st.sampled_from(["p", "q"])),
                        batch=data.draw(st.none() | st.sampled_from(["b1", "b2"])),
                        backoff=data.draw(st.none() | st.just(Backoff(base_s=3, factor=2, jitter=0.5))),
                    )
                )
            if data.draw(st.integers(0, 9)) == 0 and self.ids:
                jobs.append(Job.new(id=self.ids[0], kind="k", now=self.now))  # a duplicate id
            got, want = _outcome(lambda: self.store.submit(jobs)), _outcome(lambda: self.ref.submit(jobs))
            assert got == want
            if want[0] == "ok":
                self.ids += [i for i in dict.fromkeys(want[1]) if i not in self.ids]

        @rule(seconds=gaps)
        def tick(self, seconds: int) -> None:
            self.now += timedelta(seconds=seconds)

        @rule(
            worker=st.sampled_from(WORKERS),
            limit=st.integers(1, 4),
            lease_s=st.integers(1, 120),
            queues=st.none() | st.sampled_from([("a",), ("b",), ("a", "b")]),
            pools=st.none() | st.sampled_from([(), ("p",), ("p", "q")]),
        )
        def claim(
            self,
            worker: str,
            limit: int,
            lease_s: int,
            queues: tuple[str, ...] | None,
            pools: tuple[str, ...] | None,
        ) -> None:
            until = self.now + timedelta(seconds=lease_s)
            kw: dict[str, Any] = {"limit": limit, "now": self.now, "lease_until": until, "policy": POLICY}
            got = self.store.claim(ClaimRequest(worker, queues=queues, pools=pools, **kw))
            want = self.ref.claim(ClaimRequest(worker, queues=queues, pools=pools, **kw))
            assert got == want

        @precondition(lambda self: self.ids)
        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            job_id = data.draw(st.sampled_from(self.ids))
            job = self.ref.get(job_id)
            assert job is not None and self.store.get(job_id) == job
            event = next_event(data.draw, job, self.now)
            if isinstance(event, Claim):
                # Slots are handed out by `claim` only; a hand-made one could be held.
                event = attrs.evolve(event, slot=None)
            result = decide(job, event, self.now, POLICY)
            if isinstance(result, Success):
                decision = result.unwrap()
                got = _outcome(lambda: _shape(self.store.apply(decision)))
                assert got == _outcome(lambda: _shape(self.ref.apply(decision)))
                self.seen.setdefault(job_id, job)

        def _decisions(self, data: st.DataObject, ids: list[str], *, stale: bool) -> list[Decision]:
            """A decision per id that `decide` accepts; with `stale`, some made from an old
            version of the job (they must conflict)."""
            out = []
            for job_id in ids:
                job = self.ref.get(job_id)
                assert job is not None
                if stale and data.draw(st.booleans()) and job_id in self.seen:
                    job = self.seen[job_id]
                event = next_event(data.draw, job, self.now)
                if isinstance(event, Claim):
                    event = attrs.evolve(event, slot=None)  # slots are handed out by claim only
                result = decide(job, event, self.now, POLICY)
                if isinstance(result, Success):
                    out.append(result.unwrap())
                    self.seen.setdefault(job_id, job)
            return out

        @precondition(lambda self: self.ids)
        @rule(data=st.data())
        def act_many(self, data: st.DataObject) -> None:
            """A batch of decisions, fresh and stale, some for the same job twice."""
            ids = data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=5))
            decisions = self._decisions(data, ids, stale=True)
            got = _outcome(lambda: [_shape(r) for r in self.store.apply_many(decisions)])
            assert got == _outcome(lambda: [_shape(r) for r in self.ref.apply_many(decisions)])

        @precondition(lambda self: self.ids and isinstance(self.store, ApplyThenClaim))
        @rule(data=st.data(), worker=st.sampled_from(WORKERS), limit=st.integers(0, 3))
        def act_then_claim(self, data: st.DataObject, worker: str, limit: int) -> None:
            """Writes then a claim, in one call where the store offers it."""
            ids = data.draw(st.lists(st.sampled_from(self.ids), max_size=3, unique=True))
            decisions = self._decisions(data, ids, stale=False)
            kw: dict[str, Any] = {
                "limit": limit,
                "now": self.now,
                "lease_until": self.now + timedelta(seconds=30),
                "pools": data.draw(st.none() | st.sampled_from([(), ("q",)])),
            }
            store = self.store
            assert isinstance(store, ApplyThenClaim)

            def shaped(s: Any) -> Any:
                results, claimed = s.apply_then_claim(decisions, ClaimRequest(worker, policy=POLICY, **kw))
                return [_shape(r) for r in results], claimed

            assert _outcome(lambda: shaped(store)) == _outcome(lambda: shaped(self.ref))

        @precondition(lambda self: self.seen)
        @rule(data=st.data())
        def stale_write(self, data: st.DataObject) -> None:
            """R-B6: a decision made from an old version is refused by both."""
            job = self.seen[data.draw(st.sampled_from(sorted(self.seen)))]
            result = decide(job, next_event(data.draw, job, self.now), self.now, POLICY)
            if isinstance(result, Success):
                got = _outcome(lambda: self.store.apply(result.unwrap()))
                want = _outcome(lambda: self.ref.apply(result.unwrap()))
                assert (got[0], _shape(got[1]) if got[0] == "ok" else got[1]) == (
                    want[0],
                    _shape(want[1]) if want[0] == "ok" else want[1],
                )
                if want[0] == "ok":
                    assert isinstance(want[1], Conflict) or want[1].job.version == job.version + 1

        @precondition(lambda self: self.ids)
        @rule(
            worker=st.sampled_from(WORKERS),
            data=st.data(),
            lease_s=st.integers(1, 120),
            ran_s=st.sampled_from([0.0, 0.25, 10.0, 3600.5]),
        )
        def heartbeat(self, worker: str, data: st.DataObject, lease_s: int, ran_s: float) -> None:
            ids = data.draw(st.lists(st.sampled_from(self.ids), max_size=4, unique=True))
            until = self.now + timedelta(seconds=lease_s)
            got = self.store.heartbeat(worker, ids, lease_until=until, now=self.now, ran_s=ran_s)
            assert got == self.ref.heartbeat(worker, ids, lease_until=until, now=self.now, ran_s=ran_s)

        @rule(keep=st.dictionaries(st.sampled_from(sorted(TERMINAL, key=str)), gaps), limit=st.integers(0, 4))
        def prune(self, keep: dict[Status, int], limit: int) -> None:
            kept = {s: timedelta(seconds=n) for s, n in keep.items()}
            assert self.store.prune(self.now, kept, limit=limit) == self.ref.prune(
                self.now, kept, limit=limit
            )
            gone = {i for i in self.ids if self.ref.get(i) is None}
            self.ids = [i for i in self.ids if i not in gone]
            self.seen = {i: j for i, j in self.seen.items() if i not in gone}

        @rule(queue=st.sampled_from(["a", "b"]), pause=st.booleans())
        def pause(self, queue: str, pause: bool) -> None:
            for store in (self.store, self.ref):
                store.pause(queue) if pause else store.resume(queue)
            assert self.store.paused() == self.ref.paused()

        @rule(pool=st.sampled_from(["p", "q"]), size=st.integers(0, 2))
        def set_pool(self, pool: str, size: int) -> None:
            self.store.set_pool(pool, size)
            self.ref.set_pool(pool, size)

        @rule(batch=st.sampled_from(["b1", "b2", "b3"]))
        def clear_batch(self, batch: str) -> None:
            got = _outcome(lambda: self.store.clear_batch(batch))
            assert got == _outcome(lambda: self.ref.clear_batch(batch))
            gone = {i for i in self.ids if self.ref.get(i) is None}
            self.ids = [i for i in self.ids if i not in gone]
            self.seen = {i: j for i, j in self.seen.items() if i not in gone}

        @rule(data=st.data(), n=st.integers(1, 3), topic=st.sampled_from(["t1", "t2"]))
        def publish(self, data: st.DataObject, n: int, topic: str) -> None:
            events = []
            for _ in range(n):
                self.made += 1
                events.append(TopicEvent(id=f"e{self.made:03d}", topic=topic, published_at=self.now))
            if self.events and data.draw(st.integers(0, 9)) == 0:
                events.append(TopicEvent(id=self.events[0], topic=topic, published_at=self.now))
            got = _outcome(lambda: self.store.publish(events))
            assert got == _outcome(lambda: self.ref.publish(events))
            if got[0] == "ok":
                self.events += [e.id for e in events]

        @rule(
            topic=st.sampled_from(["t1", "t2"]),
            consumer=st.sampled_from(WORKERS),
            limit=st.integers(0, 3),
            lease_s=st.integers(1, 120),
        )
        def reserve(self, topic: str, consumer: str, limit: int, lease_s: int) -> None:
            kw: dict[str, Any] = {
                "limit": limit,
                "now": self.now,
                "until": self.now + timedelta(seconds=lease_s),
            }
            got = self.store.reserve(topic, consumer, **kw)
            assert got == self.ref.reserve(topic, consumer, **kw)

        @precondition(lambda self: self.events)
        @rule(data=st.data(), consumer=st.sampled_from(WORKERS), how=st.sampled_from(list(Settle)))
        def settle(self, data: st.DataObject, consumer: str, how: Settle) -> None:
            ids = data.draw(st.lists(st.sampled_from(self.events), max_size=3))
            note = data.draw(st.none() | st.just("why"))
            got = self.store.settle(ids, consumer, how, now=self.now, note=note)
            assert got == self.ref.settle(ids, consumer, how, now=self.now, note=note)

        @rule()
        def sweep(self) -> None:
            assert self.store.sweep_stale_leases(self.now) == self.ref.sweep_stale_leases(self.now)

        @invariant()
        def same_jobs(self) -> None:
            assert self.store.list(ALL) == self.ref.list(ALL)
            assert dict(self.store.counts()) == dict(self.ref.counts())
            assert dict(self.store.pools()) == dict(self.ref.pools())
            for batch in ("b1", "b2"):
                assert self.store.batch(batch) == self.ref.batch(batch)
            for topic in ("t1", "t2"):
                assert self.store.events(topic) == self.ref.events(topic)
                assert self.store.available(topic, self.now) == self.ref.available(topic, self.now)

        @invariant()
        def no_job_waits_for_a_dependency_that_ended(self) -> None:
            jobs = {j.id: j for j in self.store.list(ALL)}
            for job in jobs.values():
                ended = [d for d in job.depends_on if d in jobs and jobs[d].status in ENDS_DEPENDENTS]
                if job.status is Status.QUEUED and job.on_dependency_failure is DependencyFailure.CANCEL:
                    assert not ended, f"{job.id} waits for {ended}, which ended"
                if job.cancelled_for is not None:
                    assert job.status is Status.CANCELLED and job.cancelled_for in job.depends_on

        def teardown(self) -> None:
            self.store.close()

    run_state_machine_as_test(
        Agreement,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

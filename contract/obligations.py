"""What every JobStore must do, one obligation a test."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from qrun.core import (
    AdoptRun,
    Backoff,
    Cancel,
    Claim,
    ClaimRequest,
    Decision,
    Exited,
    Failed,
    Finished,
    FollowUp,
    Handle,
    Heartbeat,
    Job,
    OrphanPolicy,
    Release,
    Run,
    Spawn,
    Spawned,
    Status,
)
from qrun.core.claim import run_id_for
from qrun.core.ports import Applied, Conflict, DuplicateJob, JobFilter, JobStore, UnknownDependency

from .base import POLICY, StoreFixtures, claim_one, lease, step
from .builders import T0, at, new_job, ok

H = Handle("subprocess", "4242:99")


class StoreObligations(StoreFixtures):
    # -- submit ----------------------------------------------------------------------
    def test_submit_then_get_returns_the_same_job(self, store: JobStore) -> None:
        job = new_job(payload={"argv": ["echo", "hi"], "n": 1, "nested": {"a": [1, 2]}}, priority=3)
        assert store.submit([job]) == [job.id]
        assert store.get(job.id) == job

    def test_get_of_an_unknown_id_is_none(self, store: JobStore) -> None:
        assert store.get("no-such-job") is None

    def test_batch_submit_is_atomic(self, store: JobStore) -> None:
        """A batch with one bad job inserts nothing."""
        ok_job, dup = new_job(), new_job()
        store.submit([dup])
        with pytest.raises(DuplicateJob, match=dup.id):
            store.submit([ok_job, dup])
        assert store.get(ok_job.id) is None

    def test_duplicate_ids_within_a_batch_are_refused(self, store: JobStore) -> None:
        job = new_job()
        with pytest.raises(DuplicateJob):
            store.submit([job, attrs.evolve(job)])
        assert store.get(job.id) is None

    def test_unknown_dependency_is_refused_and_nothing_inserted(self, store: JobStore) -> None:
        job = new_job(depends_on=("missing-parent",))
        with pytest.raises(UnknownDependency, match="missing-parent"):
            store.submit([job])
        assert store.get(job.id) is None

    def test_dependency_within_the_same_batch_is_accepted(self, store: JobStore) -> None:
        parent = new_job()
        child = new_job(depends_on=(parent.id,))
        assert store.submit([parent, child]) == [parent.id, child.id]

    def test_a_large_batch_is_stored_whole(self, store: JobStore) -> None:
        jobs = [new_job() for _ in range(500)]
        store.submit(jobs)
        assert sum(store.counts().values()) == 500

    def test_every_field_survives_a_round_trip(self, store: JobStore) -> None:
        parent = new_job()
        job = new_job(
            payload={"s": "é ✓", "f": 1.5, "b": True, "none": None, "list": [1, "2"]},
            queue="q2",
            priority=-4,
            max_attempts=7,
            available_at=at(5),
            concurrency_key="key",
            concurrency_limit=3,
            depends_on=(parent.id,),
            follow_up=FollowUp("next", {"x": 1}, "q3"),
            orphan_policy=OrphanPolicy.RETRY,
        )
        store.submit([parent, job])
        assert store.get(job.id) == job
        running = attrs.evolve(
            job,
            status=Status.RUNNING,
            attempts=2,
            transient_attempts=1,
            started_at=at(6),
            run=Run(f"{job.id}/2", epoch=3, handle=H, exit_code=3, exit_recorded_at=at(7)),
            lease=None,
            adoptions=2,
            spawn_failures=3,
            cancel_requested=True,
            error="err ✗",
            result={"r": [1, 2]},
            version=job.version + 1,
        )
        assert isinstance(store.apply(Decision(running)), Applied)
        assert store.get(job.id) == running

    # -- claim -----------------------------------------------------------------------
    def test_claim_on_an_empty_store_takes_nothing(self, store: JobStore) -> None:
        assert store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY)) == []

    def test_r_a3_claim_sets_running_lease_start_and_attempt_atomically(self, store: JobStore) -> None:
        """R-A3: one claim makes the job running, leased, stamped and counted."""
        job = new_job()
        store.submit([job])
        d = claim_one(store, "w1", at(2))
        stored = store.get(job.id)
        assert stored == d.job
        assert stored is not None and stored.status is Status.RUNNING
        assert stored.lease is not None and (stored.lease.worker, stored.lease.until) == ("w1", lease(at(2)))
        assert stored.started_at == at(2) and stored.attempts == 1
        assert stored.run is not None and stored.run.handle is None  # R-C2
        assert d.external == (Spawn(job.id, stored.run.id),)

    def test_a_claim_is_exactly_what_decide_decides(self, store: JobStore) -> None:
        """A store may write the claim in its own language (SQL): the decisions it returns
        are still decide's, field for field and effect for effect, for fresh jobs and
        for a job requeued after a failure."""
        store.submit([new_job(max_attempts=3)])
        back = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("boom"), at(1))
        assert back.status is Status.QUEUED and back.attempts == 1
        fresh = [new_job(priority=2), new_job(payload={"k": [1, "x"]})]
        store.submit(fresh)
        before = {j.id: store.get(j.id) for j in [back, *fresh]}
        now = at(1 + POLICY.backoff.cap_s)
        got = store.claim(ClaimRequest("w1", limit=5, now=now, lease_until=lease(now), policy=POLICY))
        assert {d.job.id for d in got} == set(before)
        for d in got:
            job = before[d.job.id]
            assert job is not None
            assert d == ok(job, Claim("w1", run_id_for(job), lease(now)), now, POLICY)

    def test_a_clock_set_back_never_stamps_a_start_before_the_request(self, store: JobStore) -> None:
        """The wall clock is set back between a failure and the next claim: the claim is
        still decide's, which stamps `started_at` no earlier than `requested_at`."""
        store.submit([new_job(now=at(100), max_attempts=3)])
        first = step(store, claim_one(store, "w1", at(100)).job, Spawned(H), at(100))
        back = step(store, first, Failed("boom"), at(10))  # the clock went back 90 s
        assert back.available_at < back.requested_at
        got = claim_one(store, "w1", back.available_at)
        assert got == ok(
            back, Claim("w1", run_id_for(back), lease(back.available_at)), back.available_at, POLICY
        )
        assert got.job.started_at == back.requested_at

    def test_r_a3_adoptable_jobs_are_claimed_before_queued_ones(self, store: JobStore) -> None:
        """R-A3: a running job with a cleared lease is handed out before any queued job."""
        first = new_job(priority=-10)
        store.submit([first])
        job = step(store, claim_one(store, "w1").job, Spawned(H))
        store.submit([new_job(priority=10)])
        assert store.sweep_stale_leases(at(31)) == 1
        d = claim_one(store, "w2", at(31))
        assert d.job.id == first.id and d.job.lease is not None and d.job.lease.worker == "w2"
        assert d.job.run is not None and job.run is not None
        assert d.job.run.epoch == job.run.epoch + 1
        assert d.external == (AdoptRun(first.id, job.run.id, H),)

    def test_claim_order_is_priority_then_availability_then_age(self, store: JobStore) -> None:
        a = new_job(id="o-a", priority=1, now=at(0))
        b = new_job(id="o-b", priority=5, now=at(3))
        c = new_job(id="o-c", priority=1, now=at(0), available_at=at(1))
        d = new_job(id="o-d", priority=1, now=at(2))
        store.submit([d, c, b, a])
        got = store.claim(ClaimRequest("w1", limit=10, now=at(5), lease_until=lease(at(5)), policy=POLICY))
        assert [x.job.id for x in got] == ["o-b", "o-a", "o-c", "o-d"]

    def test_a_delayed_job_is_not_claimed_before_it_is_available(self, store: JobStore) -> None:
        store.submit([new_job(available_at=at(60))])
        assert (
            store.claim(ClaimRequest("w1", limit=1, now=at(59), lease_until=lease(at(59)), policy=POLICY))
            == []
        )
        claim_one(store, "w1", at(60))

    def test_batch_claim_takes_up_to_limit(self, store: JobStore) -> None:
        store.submit([new_job() for _ in range(5)])
        assert len(store.claim(ClaimRequest("w1", limit=3, now=T0, lease_until=lease(), policy=POLICY))) == 3
        assert len(store.claim(ClaimRequest("w2", limit=3, now=T0, lease_until=lease(), policy=POLICY))) == 2
        assert store.claim(ClaimRequest("w3", limit=3, now=T0, lease_until=lease(), policy=POLICY)) == []

    def test_concurrency_key_limit_holds_across_claims(self, store: JobStore) -> None:
        """R-F1: never more running jobs of one key than its limit."""
        store.submit([new_job(concurrency_key="k", concurrency_limit=2) for _ in range(4)] + [new_job()])
        got = store.claim(ClaimRequest("w1", limit=10, now=T0, lease_until=lease(), policy=POLICY))
        assert sum(d.job.concurrency_key == "k" for d in got) == 2 and len(got) == 3
        assert store.claim(ClaimRequest("w2", limit=10, now=T0, lease_until=lease(), policy=POLICY)) == []
        one = next(d.job for d in got if d.job.concurrency_key == "k")
        step(store, one, Finished(None), at(1))
        assert (
            len(store.claim(ClaimRequest("w2", limit=10, now=at(1), lease_until=lease(at(1)), policy=POLICY)))
            == 1
        )

    def test_dependencies_hold_a_job_until_all_are_done(self, store: JobStore) -> None:
        """R-F1: a job waits for every job it depends on to be done."""
        p1, p2 = new_job(priority=1), new_job(priority=1)
        child = new_job(priority=9, depends_on=(p1.id, p2.id))
        store.submit([p1, p2, child])
        got = store.claim(ClaimRequest("w1", limit=10, now=T0, lease_until=lease(), policy=POLICY))
        assert {d.job.id for d in got} == {p1.id, p2.id}
        step(store, got[0].job, Finished(None), at(1))
        assert (
            store.claim(ClaimRequest("w1", limit=10, now=at(1), lease_until=lease(at(1)), policy=POLICY))
            == []
        )
        step(store, got[1].job, Finished(None), at(2))
        assert claim_one(store, "w1", at(2)).job.id == child.id

    def test_claim_honours_the_queue_filter(self, store: JobStore) -> None:
        store.submit([new_job(queue="a"), new_job(queue="b")])
        d = claim_one(store, "w1", queues=["b"])
        assert d.job.queue == "b"
        assert (
            store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, queues=["c"]))
            == []
        )

    @pytest.mark.parametrize("keyed", [False, True])  # the one-statement claim, and the general one
    def test_claim_takes_only_the_kinds_the_claimer_can_run(self, store: JobStore, keyed: bool) -> None:
        key = {"concurrency_key": "k", "concurrency_limit": 5} if keyed else {}
        store.submit([new_job(kind="task.a", priority=9, **key), new_job(kind="command", **key)])
        got = store.claim(
            ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=["command"])
        )
        assert [d.job.kind for d in got] == ["command"]
        assert (
            store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=[]))
            == []
        )
        (left,) = store.list(JobFilter(status=Status.QUEUED))
        assert (left.kind, left.attempts) == ("task.a", 0)

    def test_an_orphan_is_adopted_only_by_a_claimer_of_its_kind(self, store: JobStore) -> None:
        store.submit([new_job(kind="task.a")])
        job = step(store, claim_one(store, "w1").job, Spawned(H))
        store.apply(ok(job, Release("w1"), T0, POLICY))
        assert (
            store.claim(
                ClaimRequest("w2", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=["command"])
            )
            == []
        )
        assert claim_one(store, "w3", kinds=["task.a"]).job.adoptions == 1

    # -- apply -----------------------------------------------------------------------
    def test_apply_is_compare_and_set_on_the_version(self, store: JobStore) -> None:
        """R-B6: of two decisions made from the same version, only the first is written."""
        store.submit([new_job()])
        job = step(store, claim_one(store).job, Spawned(H))
        first, second = ok(job, Finished("a"), at(1)), ok(job, Failed("b"), at(1))
        assert isinstance(store.apply(first), Applied)
        lost = store.apply(second)
        assert isinstance(lost, Conflict) and lost.current == first.job
        assert store.get(job.id) == first.job

    def test_apply_to_an_unknown_job_conflicts(self, store: JobStore) -> None:
        ghost = ok(claimed_elsewhere(), Finished(None), at(1))
        assert store.apply(ghost) == Conflict(None)

    def test_a_jobs_own_backoff_is_kept_and_spaces_its_retry(self, store: JobStore) -> None:
        own = Backoff(base_s=90.5, factor=3, cap_s=4000, jitter=0.25)
        job = new_job(backoff=own)
        store.submit([job])
        assert store.get(job.id) == job
        running = step(store, claim_one(store).job, Spawned(H), at(1))
        retried = step(store, running, Failed("flaky"), at(2))
        assert retried.backoff == own and store.get(job.id) == retried
        assert retried.available_at == at(2) + own.delay(job.id, 1)

    def test_r_b4_durable_follow_up_is_written_with_the_winning_write_only(self, store: JobStore) -> None:
        """R-B4/R-B6: the follow-up exists exactly once, and only the winner's."""
        store.submit([new_job(follow_up=FollowUp("stage-2", {"k": 1}))])
        job = step(store, claim_one(store).job, Spawned(H))
        win, lose = ok(job, Finished(1), at(1)), ok(job, Finished(2), at(2))
        assert isinstance(store.apply(win), Applied)
        assert isinstance(store.apply(lose), Conflict)
        follow = store.get(f"{job.id}.next")
        assert follow is not None and follow.kind == "stage-2" and follow.status is Status.QUEUED
        assert follow.payload == {"k": 1}
        assert store.counts()[("default", Status.QUEUED)] == 1

    def test_a_requeued_job_can_be_claimed_again_with_a_new_run(self, store: JobStore) -> None:
        store.submit([new_job(max_attempts=3)])
        first = step(store, claim_one(store).job, Spawned(H))
        back = step(store, first, Failed("boom"), at(1))
        assert back.status is Status.QUEUED and back.clean
        again = claim_one(store, "w2", back.available_at)
        assert again.job.attempts == 2 and again.job.run is not None and first.run is not None
        assert again.job.run.id != first.run.id

    # -- heartbeat and leases --------------------------------------------------------
    def test_r_a4_heartbeat_extends_only_the_holders_leases(self, store: JobStore) -> None:
        """R-A4: the holder's leases are extended; another worker's call changes nothing."""
        store.submit([new_job() for _ in range(3)])
        mine = [
            d.job
            for d in store.claim(ClaimRequest("w1", limit=2, now=T0, lease_until=lease(), policy=POLICY))
        ]
        theirs = claim_one(store, "w2").job
        ids = [j.id for j in mine] + [theirs.id]
        kept = store.heartbeat("w1", ids, lease_until=at(90), now=at(10))
        assert kept == frozenset(j.id for j in mine)
        for j in mine:
            got = store.get(j.id)
            assert got is not None and got.lease is not None and got.lease.until == at(90)
        assert store.get(theirs.id) == theirs

    def test_r_b3_heartbeats_add_up_the_time_a_run_was_seen_running(self, store: JobStore) -> None:
        """R-B3: the ceiling counts `ran_s`, which heartbeats add to, as decide says; a
        claim starts it from 0 and an adoption keeps it."""
        store.submit([new_job()])
        job = claim_one(store).job
        assert job.ran_s == 0
        store.heartbeat("w1", [job.id], lease_until=at(40), now=at(10), ran_s=10.0)
        beat = store.heartbeat("w1", [job.id], lease_until=at(50), now=at(20), ran_s=9.5)
        got = store.get(job.id)
        assert beat == {job.id} and got is not None and got.ran_s == 19.5
        want = ok(ok(job, Heartbeat("w1", at(40), 10.0), at(10)).job, Heartbeat("w1", at(50), 9.5), at(20))
        assert got == want.job
        assert store.heartbeat("w2", [job.id], lease_until=at(60), now=at(21), ran_s=5.0) == frozenset()
        store.sweep_stale_leases(at(51))
        adopted = claim_one(store, "w2", at(52)).job
        assert adopted.adoptions == 1 and adopted.ran_s == 19.5

    def test_heartbeat_of_a_lost_lease_reports_it_lost(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        store.sweep_stale_leases(at(31))
        assert store.heartbeat("w1", [job.id, "ghost"], lease_until=at(90), now=at(31)) == frozenset()

    def test_r_a5_sweep_clears_only_expired_leases_and_counts_them(self, store: JobStore) -> None:
        """R-A5: expired leases are cleared (the jobs become adoptable); valid ones stay."""
        store.submit([new_job(), new_job()])
        a = claim_one(store, "w1").job
        b = store.claim(ClaimRequest("w2", limit=1, now=T0, lease_until=at(100), policy=POLICY))[0].job
        assert store.sweep_stale_leases(at(30)) == 1
        got_a, got_b = store.get(a.id), store.get(b.id)
        assert got_a is not None and got_a.adoptable
        assert got_b == b
        assert store.sweep_stale_leases(at(30)) == 0

    # -- reads -----------------------------------------------------------------------
    def test_list_filters_and_pages_by_id(self, store: JobStore) -> None:
        jobs = [new_job(id=f"l-{i:02d}", queue="a" if i % 2 else "b") for i in range(10)]
        store.submit(jobs)
        claim_one(store, queues=["a"])
        page1 = store.list(JobFilter(queue="a", limit=3))
        assert [j.id for j in page1] == ["l-01", "l-03", "l-05"]
        page2 = store.list(JobFilter(queue="a", limit=3, after=page1[-1].id))
        assert [j.id for j in page2] == ["l-07", "l-09"]
        assert [j.id for j in store.list(JobFilter(status=Status.RUNNING))] == ["l-01"]
        assert store.list(JobFilter(kind="nope")) == []

    def test_counts_per_queue_and_status(self, store: JobStore) -> None:
        store.submit([new_job(queue="a"), new_job(queue="a"), new_job(queue="b")])
        claim_one(store, queues=["a"])
        counts = store.counts()
        assert counts[("a", Status.RUNNING)] == 1
        assert counts[("a", Status.QUEUED)] == 1
        assert counts[("b", Status.QUEUED)] == 1
        assert sum(counts.values()) == 3

    def test_finished_counts_are_per_queue_and_status_since_a_time(self, store: JobStore) -> None:
        early, late, failing, cancelled, open_ = (new_job(queue=q) for q in ("a", "a", "b", "b", "a"))
        store.submit([early, late, failing, cancelled, open_])
        step(store, step(store, claim_one(store, queues=["a"]).job, Spawned(H), at(1)), Finished(), at(2))
        step(store, step(store, claim_one(store, queues=["a"]).job, Spawned(H), at(3)), Finished(), at(10))
        b = claim_one(store, queues=["b"], now=at(4)).job
        step(store, step(store, b, Spawned(H), at(4)), Failed("boom", final=True), at(10))
        step(store, store.get(cancelled.id), Cancel(), at(11))  # type: ignore[arg-type]
        assert dict(store.finished_counts(at(10))) == {
            ("a", Status.DONE): 1,
            ("b", Status.FAILED): 1,
            ("b", Status.CANCELLED): 1,
        }
        assert sum(store.finished_counts(at(2)).values()) == 4  # at `since` counts
        assert dict(store.finished_counts(at(12))) == {}

    def test_times_come_back_as_the_same_instants(self, store: JobStore) -> None:
        odd = T0 + timedelta(microseconds=123457)
        job = new_job(now=odd)
        store.submit([job])
        got = store.get(job.id)
        assert got is not None and got.requested_at == odd and got.requested_at.utcoffset() is not None

    def test_exit_code_is_kept_for_the_reaper(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = step(store, step(store, claim_one(store).job, Spawned(H)), Exited(0), at(3))
        got = store.get(job.id)
        assert got is not None and got.run is not None
        assert (got.run.exit_code, got.run.exit_recorded_at) == (0, at(3))


def claimed_elsewhere(job: Job | None = None) -> Job:
    """A running job as `decide` would make it, never stored anywhere."""
    job = job or new_job()
    return ok(job, Claim("w1", f"{job.id}/x", lease()), T0).job

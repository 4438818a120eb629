"""Edges where a store's code is most often wrong and its happy paths still pass: limits
shared between adoptable and queued jobs, deadlines on the boundary, unique keys after a
batch is cleared and from either id order, values built at run time (equality, not
identity), versions past the small-integer cache, writes from the future, and the empty
cases (a limit of 0)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest

from qrun.core import (
    Cancel,
    Claim,
    ClaimRequest,
    Decision,
    Failed,
    Finished,
    Heartbeat,
    Retry,
    Spawned,
    Status,
    Unique,
)
from qrun.core.claim import run_id_for
from qrun.core.ports import (
    Applied,
    ApplyThenClaim,
    Conflict,
    DuplicateEvent,
    DuplicateJob,
    EventStore,
    JobFilter,
    JobStore,
    UniqueConflict,
    UnknownDependency,
    WorkflowStore,
    unique_conflict_message,
)
from qrun.core.topics import EventStatus, Settle, TopicEvent

from .base import POLICY, StoreFixtures, claim_one, lease, step, stored
from .builders import T0, at, new_job, ok
from .obligations import H, claimed_elsewhere
from .topics import event


def built(*parts: str) -> str:
    """A string made at run time, never the interned literal the test wrote."""
    return "".join(list(parts))


class StoreEdges(StoreFixtures):
    def test_a_claim_hands_out_adoptable_jobs_first_and_queued_ones_only_up_to_the_limit(
        self, store: JobStore
    ) -> None:
        store.submit([new_job(), new_job()])
        for d in store.claim(ClaimRequest("w1", limit=2, now=T0, lease_until=lease(), policy=POLICY)):
            step(store, d.job, Spawned(H))
        store.submit([new_job() for _ in range(4)])
        assert store.sweep_stale_leases(at(31)) == 2
        got = store.claim(ClaimRequest("w2", limit=3, now=at(31), lease_until=lease(at(31)), policy=POLICY))
        kinds = [d.job.adoptions for d in got]
        assert len(got) == 3 and kinds == [1, 1, 0]  # two adopted, then one queued: never 2 + 3
        assert len(store.list(JobFilter(status=Status.QUEUED))) == 3

    @pytest.mark.parametrize("orphans", [1, 2])
    def test_a_claim_that_adopts_some_fills_the_rest_of_its_limit_with_queued_jobs(
        self, store: JobStore, orphans: int
    ) -> None:
        store.submit([new_job() for _ in range(orphans)])
        for d in store.claim(ClaimRequest("w1", limit=orphans, now=T0, lease_until=lease(), policy=POLICY)):
            step(store, d.job, Spawned(H))
        store.submit([new_job() for _ in range(6)])
        assert store.sweep_stale_leases(at(31)) == orphans
        got = store.claim(ClaimRequest("w2", limit=4, now=at(31), lease_until=lease(at(31)), policy=POLICY))
        assert [d.job.adoptions for d in got] == [1] * orphans + [0] * (4 - orphans)

    def test_a_claim_whose_lease_is_over_before_it_starts_takes_nothing(self, store: JobStore) -> None:
        store.submit([new_job()])
        for until in (T0, T0 - timedelta(seconds=1)):
            assert store.claim(ClaimRequest("w1", limit=1, now=T0, lease_until=until, policy=POLICY)) == []
        (job,) = store.list()
        assert job.status is Status.QUEUED and job.version == 1

    def test_clearing_a_batch_frees_the_unique_keys_its_jobs_held(self, store: JobStore) -> None:
        done = Unique("k", finished=frozenset({Status.FAILED}))  # still held once failed
        job = new_job(unique=done, batch="b")
        store.submit([job])
        step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.clear_batch("b") == 1
        again = new_job(unique=done)
        assert store.submit([again]) == [again.id]

    @pytest.mark.parametrize("holder_sorts_first", [True, False])
    def test_a_write_taking_a_held_unique_key_is_refused_whichever_id_sorts_first(
        self, store: JobStore, holder_sorts_first: bool
    ) -> None:
        first, second = ("a-job", "z-job") if holder_sorts_first else ("z-job", "a-job")
        key = Unique("k")
        taker = new_job(id=second, unique=key, max_attempts=2)
        store.submit([taker])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([new_job(id=first, unique=key)])  # takes the key meanwhile
        with pytest.raises(UniqueConflict):
            store.apply(ok(failed, Retry(), at(2), POLICY))
        assert store.get(second) == failed

    def test_a_batch_taking_a_held_key_names_the_taker_not_the_holder(self, store: JobStore) -> None:
        """The holder's own write comes first in the batch: it keeps its key, and the
        refusal names the job that tried to take it, and the holder."""
        key = Unique("k")
        taker = new_job(id="job-taker", unique=key, max_attempts=2)
        store.submit([taker])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([new_job(id="job-holder", unique=key)])
        holder = claim_one(store, "w2", at(2)).job
        keep = ok(holder, Heartbeat("w2", lease(at(3), 60)), at(3), POLICY)
        retry = ok(failed, Retry(), at(3), POLICY)
        with pytest.raises(UniqueConflict) as refused:
            store.apply_many([keep, retry])
        assert str(refused.value) == unique_conflict_message(retry.job, "job-holder")
        assert store.get("job-taker") == failed and store.get("job-holder") == holder

    def test_a_batch_naming_an_unknown_job_twice_conflicts_twice(self, store: JobStore) -> None:
        ghost = ok(claimed_elsewhere(), Finished(None), at(1), POLICY)
        store.submit([new_job()])
        job = step(store, claim_one(store).job, Spawned(H))
        real = ok(job, Finished(None), at(1), POLICY)
        assert store.apply_many([ghost, ghost, real]) == [Conflict(None), Conflict(None), Applied(real.job)]

    def test_filters_compare_values_not_identities(self, store: JobStore) -> None:
        store.submit([new_job(id="job-q1", queue="q1", kind="k1", batch="b1"), new_job(queue="other")])
        where = JobFilter(queue=built("q", "1"), kind=built("k", "1"), batch=built("b", "1"))
        assert [j.id for j in store.list(where)] == ["job-q1"]
        assert [j.id for j in store.list(JobFilter(after=built("job-q0")))] == ["job-q1"]

    def test_newest_first_lists_ids_descending_and_pages_down(self, store: JobStore) -> None:
        store.submit(
            [*(new_job(id=f"job-n{i}", queue="n") for i in range(5)), new_job(id="job-o", queue="o")]
        )
        first = store.list(JobFilter(queue="n", limit=2, newest_first=True))
        assert [j.id for j in first] == ["job-n4", "job-n3"]
        rest = store.list(JobFilter(queue="n", limit=10, newest_first=True, after=built("job-n3")))
        assert [j.id for j in rest] == ["job-n2", "job-n1", "job-n0"]

    def test_newest_first_is_by_submit_time_then_id_and_pages_stably(self, store: JobStore) -> None:
        # Ids that say nothing of time (a schedule's "cron-...", a caller's own): the
        # newest submitted comes first all the same, and ties go by id.
        store.submit(
            [
                new_job(id="cron-b", queue="t", now=at(1)),
                new_job(id="cron-a", queue="t", now=at(1)),
                new_job(id="zzz", queue="t", now=at(0)),
                new_job(id="aaa", queue="t", now=at(2)),
                new_job(id="other", queue="u", now=at(3)),
            ]
        )
        newest = store.list(JobFilter(queue="t", newest_first=True))
        assert [j.id for j in newest] == ["aaa", "cron-b", "cron-a", "zzz"]
        pages, after = [], None
        while page := store.list(JobFilter(queue="t", newest_first=True, limit=1, after=after)):
            pages.append(page[0].id)
            after = built(page[0].id)
        assert pages == ["aaa", "cron-b", "cron-a", "zzz"]
        oldest = store.list(JobFilter(queue="t", oldest_first=True, after=built("zzz")))
        assert [j.id for j in oldest] == ["cron-a", "cron-b", "aaa"]
        assert store.list(JobFilter(newest_first=True, after="gone")) == []  # its place is unknown

    def test_versions_past_the_small_integer_cache_still_compare_equal(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", T0).job
        for i in range(300):
            job = step(store, job, Heartbeat("w1", lease(at(i), 60)), at(i))
        assert job.version > 256
        stored = store.get(job.id)
        assert stored is not None and stored.version == job.version
        beat = ok(job, Heartbeat("w1", lease(at(300), 60)), at(300), POLICY)
        [applied] = store.apply_many([beat])  # the batched path compares versions too
        assert isinstance(applied, Applied)
        assert isinstance(store.apply(ok(beat.job, Spawned(H), at(301), POLICY)), Applied)

    def test_a_decision_from_a_version_ahead_of_the_stored_one_conflicts(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = store.list()[0]
        ahead = job.evolve(version=job.version + 5)
        d = ok(ahead, Claim("w1", run_id_for(ahead), lease()), T0, POLICY)
        assert store.apply(d) == Conflict(job) and store.get(job.id) == job

    def test_a_decision_for_a_job_that_is_not_stored_conflicts(self, store: JobStore) -> None:
        ghost = new_job()
        assert store.apply(ok(ghost, Claim("w1", "r", lease()), T0, POLICY)) == Conflict(None)
        assert store.get(ghost.id) is None

    def test_prune_with_a_limit_of_zero_deletes_nothing(self, store: JobStore) -> None:
        store.submit([new_job()])
        done = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10**6), {Status.FAILED: timedelta(0)}, limit=0) == 0
        assert store.get(done.id) == done

    def test_a_negative_limit_claims_and_prunes_nothing(self, store: JobStore) -> None:
        # SQL reads LIMIT -1 as "no limit": a store must not pass it through.
        store.submit([new_job(), new_job()])
        assert store.claim(ClaimRequest("w1", limit=-1, now=T0, lease_until=lease(), policy=POLICY)) == []
        assert {j.status for j in store.list()} == {Status.QUEUED}
        done = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10**6), {Status.FAILED: timedelta(0)}, limit=-1) == 0
        assert store.get(done.id) == done

    def test_retry_resets_attempts_and_transient_attempts_in_the_store(self, store: JobStore) -> None:
        store.submit([new_job(max_attempts=3)])
        job = claim_one(store).job
        back = step(store, job, Failed("busy", transient=True), at(1))
        again = claim_one(store, "w1", back.available_at).job
        failed = step(store, step(store, again, Spawned(H)), Failed("x", final=True), at(99))
        assert (failed.attempts, failed.transient_attempts) == (1, 1)
        retried = step(store, failed, Retry(), at(100))
        assert (retried.attempts, retried.transient_attempts, retried.status) == (0, 0, Status.QUEUED)

    def test_reserve_reads_only_its_own_topic_whichever_name_sorts_last(self, store: EventStore) -> None:
        store.publish([event("alpha", id="e1"), event("omega", id="e2")])
        got = store.reserve(built("ome", "ga"), "c", limit=5, now=T0, until=at(60))
        assert [e.id for e in got] == ["e2"]
        assert store.available(built("al", "pha"), T0) == 1
        mine = store.reserve(topic=built("alpha"), consumer="c", limit=1, now=T0, until=at(60))
        assert [e.id for e in mine] == ["e1"]

    def test_a_reserve_with_a_negative_limit_or_a_past_deadline_takes_nothing(
        self, store: EventStore
    ) -> None:
        # SQL reads LIMIT -1 as "no limit"; a reservation over before it starts is none.
        store.publish([event("t", id="e1"), event("t", id="e2")])
        assert store.reserve("t", "c", limit=-1, now=at(10), until=at(60)) == []
        assert store.reserve("t", "c", limit=5, now=at(10), until=at(5)) == []
        pending = store.events(topic="t", status=EventStatus.PENDING, limit=10)
        assert [e.id for e in pending] == ["e1", "e2"]

    def test_an_event_id_twice_in_one_publish_is_refused_whole(self, store: EventStore) -> None:
        with pytest.raises(DuplicateEvent):
            store.publish([event(id="x1"), event(id="x2"), event(id="x1")])
        assert store.events("t") == []

    def test_many_decisions_for_fresh_and_unknown_jobs_in_one_batch(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = store.list()[0]
        decisions: list[Decision] = [
            ok(job, Claim("w1", run_id_for(job), lease()), T0, POLICY),
            ok(new_job(), Claim("w1", "r", lease()), T0, POLICY),
        ]
        got = store.apply_many(decisions)
        assert isinstance(got[0], Applied) and got[1] == Conflict(None)

    def test_the_ports_parameters_can_be_named_as_the_port_names_them(self, store: WorkflowStore) -> None:
        store.submit(jobs=[new_job()])
        got = store.claim(
            request=ClaimRequest(worker="w1", limit=1, now=T0, lease_until=lease(), policy=POLICY)
        )
        assert len(got) == 1
        kept = store.heartbeat(worker="w1", job_ids=[got[0].job.id], lease_until=lease(at(1)), now=at(1))
        assert kept == {got[0].job.id}
        beaten = store.get(got[0].job.id)
        assert beaten is not None and beaten.ran_s == 0  # no ran_s given: no time added
        if isinstance(store, ApplyThenClaim):  # optional
            results, _ = store.apply_then_claim(
                decisions=[],
                request=ClaimRequest(
                    worker="w1", limit=0, now=at(1), lease_until=lease(at(1)), policy=POLICY
                ),
            )
            assert results == []
        assert store.prune(now=at(1), keep={Status.DONE: timedelta(0)}, limit=1) == 0
        store.publish(events=[event("kw", id="kw1")])
        held = store.reserve(topic="kw", consumer="c", limit=1, now=at(1), until=at(60))
        done = store.settle(ids=[e.id for e in held], consumer="c", how=Settle.CONSUME, now=at(2), note=None)
        assert done == ["kw1"]

    def test_one_batch_may_hand_a_unique_key_from_the_job_that_frees_it_to_one_that_takes_it(
        self, store: JobStore
    ) -> None:
        key = Unique("k")
        first, second = new_job(unique=key), new_job(unique=key, max_attempts=2)
        store.submit([second])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([first])  # holds the key now that `second` failed
        running = step(store, claim_one(store, "w1", at(2)).job, Spawned(H), at(2))
        done = ok(running, Failed("x", final=True), at(3), POLICY)  # frees the key...
        retry = ok(failed, Retry(), at(3), POLICY)  # ...which the retry takes, in the same batch
        assert all(isinstance(r, Applied) for r in store.apply_many([done, retry]))
        assert stored(store, second.id).status is Status.QUEUED

    def test_pruning_a_job_frees_the_unique_key_it_held(self, store: JobStore) -> None:
        held = Unique("k", finished=frozenset({Status.FAILED}))
        job = new_job(unique=held)
        store.submit([job])
        step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10), {Status.FAILED: timedelta(0)}, limit=10) == 1
        again = new_job(unique=held)
        assert store.submit([again]) == [again.id]

    def test_events_lists_at_most_a_thousand_unless_asked(self, store: EventStore) -> None:
        store.publish([event(id=f"n{i:04d}") for i in range(1001)])
        assert len(store.events("t")) == 1000
        assert len(store.events("t", limit=1001)) == 1001

    def test_a_batch_of_thousands_of_decisions_is_written_whole(self, store: JobStore) -> None:
        """More rows than one statement can bind (SQLite binds at most 32,766 values)."""
        n = 7000
        store.submit([new_job(id=f"big-{i:05d}") for i in range(n)])
        claimed = store.claim(ClaimRequest("w1", limit=n, now=T0, lease_until=lease(), policy=POLICY))
        assert len(claimed) == n
        results = store.apply_many([ok(d.job, Spawned(H), at(1), POLICY) for d in claimed])
        assert all(isinstance(r, Applied) for r in results)
        assert all(j.run is not None and j.run.handle == H for j in store.list(JobFilter(limit=n)))

    def test_one_batch_cannot_give_one_free_unique_key_to_two_jobs(self, store: JobStore) -> None:
        key = Unique("k")
        a, b = new_job(unique=key, max_attempts=2), new_job(unique=key, max_attempts=2)
        store.submit([a])
        fa = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([b])
        fb = step(
            store,
            step(store, claim_one(store, "w1", at(2)).job, Spawned(H), at(2)),
            Failed("x", final=True),
            at(3),
        )
        with pytest.raises(UniqueConflict):
            store.apply_many([ok(fa, Retry(), at(4), POLICY), ok(fb, Retry(), at(4), POLICY)])
        assert (store.get(a.id), store.get(b.id)) == (fa, fb)

    def test_a_heartbeat_renews_the_rest_after_an_unknown_id(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        assert store.heartbeat("w1", ["ghost", job.id], lease_until=at(90), now=at(1)) == {job.id}

    def test_a_batch_whose_jobs_depend_on_each_other_is_cleared_by_a_name_built_at_run_time(
        self, store: JobStore
    ) -> None:
        first = new_job(batch="b1", max_attempts=1)
        second = new_job(batch="b1", depends_on=(first.id,), max_attempts=1)
        store.submit([first, second])
        step(store, first, Cancel(), at(1))  # and its dependent with it
        assert store.clear_batch(built("b", "1")) == 2

    def test_two_decisions_from_one_version_of_a_job_in_one_batch_the_second_conflicts(
        self, store: JobStore
    ) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        first, second = ok(job, Spawned(H), at(1), POLICY), ok(job, Failed("x"), at(1), POLICY)
        results = store.apply_many([first, second])
        assert results[0] == Applied(first.job) and results[1] == Conflict(first.job)
        assert store.get(job.id) == first.job

    def test_a_batch_naming_one_job_twice_compares_versions_by_value_and_refuses_the_future(
        self, store: JobStore
    ) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", T0).job
        for i in range(300):
            job = step(store, job, Heartbeat("w1", lease(at(i), 60)), at(i))
        beat = ok(job, Heartbeat("w1", lease(at(300), 60)), at(300), POLICY)
        ahead = ok(job.evolve(version=job.version + 5), Heartbeat("w1", lease(at(301), 60)), at(301), POLICY)
        results = store.apply_many([beat, ahead])
        assert results[0] == Applied(beat.job) and isinstance(results[1], Conflict)
        assert store.get(job.id) == beat.job

    def test_a_unique_job_with_an_unknown_dependency_is_refused_and_nothing_is_stored(
        self, store: JobStore
    ) -> None:
        keyed = new_job(unique=Unique("k1"), depends_on=("job-missing-parent",))
        with pytest.raises(UnknownDependency, match="job-missing-parent"):
            store.submit([keyed, new_job(unique=Unique("k2"))])
        assert store.list() == []

    def test_the_refusal_of_a_batch_naming_one_id_twice_names_only_that_id(self, store: JobStore) -> None:
        dup, solo = new_job(id="job-dup"), new_job(id="job-solo")
        with pytest.raises(DuplicateJob) as refused:
            store.submit([dup, solo, dup])
        assert "job-dup" in str(refused.value) and "job-solo" not in str(refused.value)
        assert store.list() == []

    def test_apply_then_claim_whose_lease_is_over_before_it_starts_claims_nothing(
        self, store: JobStore
    ) -> None:
        from qrun.core.ports import ApplyThenClaim

        if not isinstance(store, ApplyThenClaim):
            pytest.skip("the store does not offer apply_then_claim")
        store.submit([new_job(), new_job()])
        job = claim_one(store).job
        for i, until in enumerate((at(4), at(5))):  # before now, and at it
            results, claimed = store.apply_then_claim(
                [ok(job, Heartbeat("w1", lease(at(5), 60)), at(5), POLICY)]
                if i
                else [ok(job, Spawned(H), at(5), POLICY)],
                ClaimRequest(
                    "w1",
                    limit=5,
                    now=at(5),
                    lease_until=until,
                    policy=POLICY,
                ),
            )
            assert isinstance(results[0], Applied) and claimed == []
            job = results[0].job
        assert sorted(j.status.value for j in store.list()) == ["queued", "running"]

    def test_apply_then_claim_with_a_negative_limit_writes_and_claims_nothing(self, store: JobStore) -> None:
        from qrun.core.ports import ApplyThenClaim

        if not isinstance(store, ApplyThenClaim):
            pytest.skip("the store does not offer apply_then_claim")
        store.submit([new_job(), new_job()])
        job = claim_one(store).job
        results, claimed = store.apply_then_claim(
            [ok(job, Spawned(H), at(1), POLICY)],
            ClaimRequest(
                "w1",
                limit=-1,
                now=at(1),
                lease_until=lease(at(1)),
                policy=POLICY,
            ),
        )
        assert isinstance(results[0], Applied) and claimed == []
        assert sorted(j.status.value for j in store.list()) == ["queued", "running"]

    def test_a_conflict_in_a_batch_naming_a_job_twice_does_not_stop_the_decisions_after_it(
        self, store: JobStore
    ) -> None:
        store.submit([new_job(), new_job()])
        a, b = (claim_one(store).job for _ in range(2))
        first, stale = ok(a, Spawned(H), at(1), POLICY), ok(a, Failed("x"), at(1), POLICY)
        other = ok(b, Spawned(H), at(1), POLICY)
        results = store.apply_many([first, stale, other])
        assert results == [Applied(first.job), Conflict(first.job), Applied(other.job)]
        assert store.get(b.id) == other.job

    def test_apply_then_claim_writes_a_winners_follow_up_and_claims_in_one_call(
        self, store: JobStore
    ) -> None:
        from qrun.core import Finished, FollowUp
        from qrun.core.ports import ApplyThenClaim

        if not isinstance(store, ApplyThenClaim):
            pytest.skip("the store does not offer apply_then_claim")
        store.submit([new_job(follow_up=FollowUp("next"))])
        job = step(store, claim_one(store).job, Spawned(H))
        results, claimed = store.apply_then_claim(
            [ok(job, Finished(), at(1), POLICY)],
            ClaimRequest(
                "w1",
                limit=1,
                now=at(1),
                lease_until=lease(at(1)),
                policy=POLICY,
            ),
        )
        assert isinstance(results[0], Applied)
        follow = store.get(f"{job.id}.next")
        assert follow is not None and [d.job.id for d in claimed] == [follow.id]

    @pytest.mark.parametrize("pool", [None, "p"])
    def test_a_claim_of_hundreds_takes_exactly_its_limit(self, store: JobStore, pool: str | None) -> None:
        """Counts past the small-integer cache (the general path, where jobs need a pool
        slot, and the one-statement path)."""
        store.set_pool("p", 400)
        store.submit([new_job(pool=pool) for _ in range(300)])
        got = store.claim(ClaimRequest("w1", limit=260, now=T0, lease_until=lease(), policy=POLICY))
        assert len(got) == 260
        assert len(store.list(JobFilter(status=Status.QUEUED, limit=1000))) == 40

    def test_writes_naming_more_ids_than_one_statement_takes_reach_them_all(self, store: JobStore) -> None:
        """Heartbeats, settlements, a batch's clearing and pruning, each naming 1,100 ids:
        more than one SQL statement binds (SQLite takes them in chunks), all reached."""
        n = 1100
        store.submit([new_job(batch="big") for _ in range(n)])
        running = [
            step(store, d.job, Spawned(H))
            for d in store.claim(ClaimRequest("w1", limit=n, now=T0, lease_until=lease(), policy=POLICY))
        ]
        kept = store.heartbeat("w1", [j.id for j in running], lease_until=lease(at(1), 60), now=at(1))
        assert len(kept) == n
        store.apply_many([ok(store.get(j.id), Finished(None), at(2), POLICY) for j in running])  # type: ignore[arg-type]
        assert store.clear_batch("big") == n and store.list(JobFilter(batch="big")) == []
        topics = cast(EventStore, store)
        topics.publish([TopicEvent(id=f"e{i}", topic="t", published_at=T0) for i in range(n)])
        reserved = topics.reserve("t", "c", limit=n, now=T0, until=at(60))
        done = topics.settle([e.id for e in reserved], "c", Settle.CONSUME, now=at(1))
        assert len(reserved) == len(done) == n
        store.submit([new_job() for _ in range(n)])
        for d in store.claim(ClaimRequest("w1", limit=n, now=at(3), lease_until=lease(at(3)), policy=POLICY)):
            step(store, step(store, d.job, Spawned(H), at(3)), Finished(None), at(3))
        assert store.prune(at(3) + timedelta(days=30), {Status.DONE: timedelta(days=1)}, limit=n) == n
        assert store.list(JobFilter(limit=1000)) == []

    def test_a_follow_up_whose_id_exists_already_leaves_that_job_alone(self, store: JobStore) -> None:
        from qrun.core import Finished, FollowUp

        parent = new_job(follow_up=FollowUp("next"))
        there = new_job(id=f"{parent.id}.next", kind="mine", available_at=at(3600))
        store.submit([parent, there])
        step(store, step(store, claim_one(store).job, Spawned(H)), Finished(), at(1))
        assert store.get(there.id) == there

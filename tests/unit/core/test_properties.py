"""Random event sequences through `decide`: it never raises, and what must hold holds."""

from hypothesis import given, settings
from hypothesis import strategies as st

from qrun.contract.strategies import new_jobs, walk
from qrun.core import TABLE, Job, Policy, Status, violations
from qrun.core.effects import EnqueueJob, Spawn

POLICY = Policy(dead_ticks=2, finalize_grace_s=30, max_running_s=600)


@settings(max_examples=300, deadline=None)
@given(job=new_jobs(), data=st.data(), length=st.integers(1, 60))
def test_random_walks_keep_every_invariant(job: Job, data: st.DataObject, length: int):
    """decide never raises; after every Success the invariants hold, attempts stay within
    the maximum, queued means clean ownership, and a follow-up is enqueued at most once."""
    assert violations(job) == ()
    follow_ups = 0
    for move in walk(data.draw, job, length, POLICY):
        job, event, decision = move.before, move.event, move.decision
        nxt = decision.job
        assert violations(nxt) == (), f"{event} broke {violations(nxt)}"
        assert nxt.version == job.version + 1
        assert nxt.status in TABLE[job.status][type(event)].to, f"{event} led where its rule does not say"
        assert 0 <= nxt.attempts <= nxt.max_attempts
        if nxt.status is Status.QUEUED:
            assert nxt.clean and nxt.attempts < nxt.max_attempts
        if any(isinstance(e, Spawn) for e in decision.effects):
            assert nxt.status is Status.RUNNING and nxt.run is not None and nxt.run.handle is None
        follow_ups += sum(isinstance(e, EnqueueJob) for e in decision.effects)
    # Success is terminal and `done` has no Retry, so a follow-up happens at most once.
    assert follow_ups <= 1


@settings(max_examples=200, deadline=None)
@given(job=new_jobs(), data=st.data(), length=st.integers(1, 40))
def test_a_decision_names_every_field_it_changed(job: Job, data: st.DataObject, length: int):
    """Stores may write only `Decision.changed`: it names exactly the fields that differ
    (every one, or a store loses a change; no other, or a store writes for nothing)."""
    import attrs

    for move in walk(data.draw, job, length, POLICY):
        d = move.decision
        differs = {
            f.name
            for f in attrs.fields(Job)
            if f.name != "version" and getattr(move.before, f.name) != getattr(d.job, f.name)
        }
        assert d.changed is not None and differs == d.changed


_changes = st.fixed_dictionaries(
    {},
    optional={
        "attempts": st.integers(-2, 5),
        "max_attempts": st.integers(-1, 5),
        "kind": st.sampled_from(["", "k"]),
        "depends_on": st.lists(st.sampled_from(["a", "b"]), max_size=2),
        "started_at": st.none() | st.datetimes(),  # naive ones must be refused
        "pool": st.none() | st.sampled_from(["", "p"]),
        "version": st.integers(0, 3),
        "error": st.none() | st.text(max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(job=new_jobs(), changes=_changes)
def test_job_evolve_is_attrs_evolve(job: Job, changes: dict):
    """The core's fast copy makes exactly what attrs.evolve makes, and refuses what it refuses."""
    import attrs

    def made(fn):
        try:
            return ("ok", fn())
        except (ValueError, TypeError) as exc:
            return ("refused", type(exc))

    assert made(lambda: job.evolve(**changes)) == made(lambda: attrs.evolve(job, **changes))

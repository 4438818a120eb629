"""Section F rules decided purely: unique slots and submission (R-F1), retention and
paused queues (R-F3), periodic slots (R-F6)."""

from datetime import timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrun.contract.builders import T0, at, new_job
from qrun.core import TERMINAL, Handle, Run, Status, Unique, pick
from qrun.core.retention import expired
from qrun.core.schedule import due, fire, slot_key
from qrun.core.submission import resolve

statuses = st.sampled_from(list(Status))
finished_sets = st.sets(st.sampled_from(sorted(TERMINAL, key=str)))
uniques = st.none() | st.builds(Unique, st.sampled_from(["a", "b", "c"]), finished_sets)


# -- R-F1 unique slots ---------------------------------------------------------------------
@given(uniques, statuses)
def test_r_f1_a_job_holds_its_key_while_open_and_in_its_chosen_finished_states(unique, status):
    job = attrs.evolve(new_job(unique=unique), status=status)
    holds = unique is not None and (not status.terminal or status in unique.finished)
    assert job.unique_slot == (unique.key if holds else None)


def test_r_f1_a_key_cannot_be_given_up_while_the_job_is_open():
    with pytest.raises(ValueError, match="queued or running"):
        Unique("k", {Status.RUNNING})
    with pytest.raises(ValueError, match="must not be empty"):
        Unique("")


@given(st.lists(st.tuples(uniques, st.booleans()), max_size=8), st.sets(st.sampled_from(["a", "b", "c"])))
def test_r_f1_resolve_inserts_one_job_per_free_key_and_points_the_rest_at_holders(spec, held):
    jobs = []
    for i, (unique, depends) in enumerate(spec):
        deps = (jobs[-1].id,) if depends and jobs else ()
        jobs.append(new_job(id=f"n{i}", unique=unique, depends_on=deps))
    holders = {k: f"old-{k}" for k in held}
    fresh, ids = resolve(jobs, holders.get)
    assert len(ids) == len(jobs)
    by_id = {j.id: j for j in fresh}
    slots = [j.unique_slot for j in fresh if j.unique_slot is not None]
    assert len(slots) == len(set(slots)) and not set(slots) & held  # one holder per key
    for job, got in zip(jobs, ids, strict=True):
        if job.unique_slot is None:
            assert got == job.id  # a job without a key is always inserted
        elif got != job.id:  # resolved to the job holding its key
            assert got == holders.get(job.unique_slot) or by_id[got].unique_slot == job.unique_slot
    replaced = {j.id: i for j, i in zip(jobs, ids, strict=True) if j.id != i}
    for job in fresh:
        assert not set(job.depends_on) & set(replaced)  # dependencies point at holders


# -- R-F3 retention and pause --------------------------------------------------------------
def finished(status, at_s):
    return attrs.evolve(new_job(), status=status, finished_at=at(at_s))


def test_r_f3_retention_is_per_status_and_never_touches_open_jobs():
    keep = {Status.DONE: timedelta(seconds=10), Status.FAILED: timedelta(seconds=100)}
    assert expired(finished(Status.DONE, 0), keep, at(11))
    assert not expired(finished(Status.DONE, 0), keep, at(10))
    assert not expired(finished(Status.FAILED, 0), keep, at(11))
    assert not expired(finished(Status.CANCELLED, 0), keep, at(10_000))  # no retention: forever
    assert not expired(attrs.evolve(new_job(), status=Status.QUEUED), keep, at(10_000))


def test_r_f3_a_paused_queue_hands_out_no_queued_job_but_its_runs_are_adopted():
    queued = new_job(id="q", queue="mail")
    other = new_job(id="o", queue="other")
    orphan = attrs.evolve(
        new_job(id="a", queue="mail"),
        status=Status.RUNNING,
        attempts=1,
        started_at=T0,
        run=Run("r", handle=Handle("subprocess", "1:1")),
    )
    got = pick(
        [queued, other, orphan],
        now=T0,
        limit=5,
        running_per_key={},
        is_done=lambda _: False,
        paused=frozenset({"mail"}),
    )
    assert [p.job.id for p in got] == ["a", "o"]


# -- R-F6 periodic slots -------------------------------------------------------------------
def test_r_f6_the_latest_slot_fires_only_within_its_grace():
    grace = timedelta(minutes=5)
    assert due(at(0), at(0), grace)
    assert due(at(0), at(300), grace)
    assert not due(at(0), at(301), grace)  # missed while no daemon ran: skipped
    assert not due(None, at(0), grace)
    assert not due(at(10), at(0), grace)  # not yet


def test_r_f6_every_daemon_makes_the_same_job_for_a_slot():
    template = new_job(id="template", payload={"argv": ["backup"]})
    a, b = fire(template, "backup", at(60)), fire(template, "backup", at(60))
    assert a == b and a.id != template.id
    assert a.unique == Unique(slot_key("backup", at(60)), TERMINAL)
    assert a.unique_slot is not None  # in every state, so a slot can never fire twice
    assert fire(template, "backup", at(120)).unique != a.unique

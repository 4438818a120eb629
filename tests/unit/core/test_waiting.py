"""Why a job waits (core.waiting): each reason on its own, and the property that ties it
to the claim: a queued job with no reason is one `core.claim.pick` takes."""

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from qrun.contract.builders import T0, new_job
from qrun.core import Status, pick
from qrun.core.daemons import DaemonSeen
from qrun.core.pools import Pool, states
from qrun.core.waiting import Surroundings, why_waiting

NOW = T0 + timedelta(minutes=1)


def reasons(job, **around):
    return why_waiting(job, Surroundings(now=NOW, **around))


def daemon(queues=None, kinds=None):
    return DaemonSeen(
        id="d@h:1:x",
        name="d",
        host="h",
        pid=1,
        slots=4,
        running=0,
        queues=queues,
        kinds=kinds,
        started_at=T0,
        seen_at=NOW,
    )


def test_a_job_the_next_claim_takes_has_no_reason():
    assert reasons(new_job(), daemons=(daemon(),)) == ()


def test_each_reason_says_what_to_do():
    later = new_job(available_at=NOW + timedelta(hours=1))
    assert reasons(later) == ("scheduled for 2030-01-01T01:01:00+00:00",)
    backing = new_job(available_at=NOW + timedelta(seconds=30)).evolve(attempts=1, error="exit code 3\nmore")
    assert reasons(backing) == (
        "backing off until 2030-01-01T00:01:30+00:00 after attempt 1 failed: exit code 3",
    )
    assert reasons(new_job(queue="mail"), paused=frozenset({"mail"})) == (
        "its queue mail is paused: `qrun resume mail`",
    )
    child = new_job(id="child", depends_on=("a", "b", "c", "d"))
    deps = {"a": Status.FAILED, "b": Status.RUNNING, "c": None, "d": Status.DONE}
    assert reasons(child, dependencies=deps) == (
        "it depends on a, which ended failed: `qrun retry a` or `qrun cancel child`",
        "it waits for b (running) to be done",
        "it depends on c, which does not exist: `qrun cancel child`",
    )
    keyed = new_job(concurrency_key="deploy", concurrency_limit=1)
    assert reasons(keyed, key_holders=("j9",)) == ("its concurrency key deploy allows 1 at once, held by j9",)
    pooled = new_job(pool="gpu")
    assert reasons(pooled) == ("its pool gpu is not declared: add [pools.gpu] with a size",)
    assert reasons(pooled, pool=Pool("gpu", 1, {0: "j8"})) == ("its pool gpu has all 1 slot(s) in use",)
    assert reasons(new_job(queue="q"), daemons=(daemon(queues=("other",)),)) == (
        "no live daemon serves its queue q",
    )
    assert reasons(new_job(kind="send"), daemons=(daemon(kinds=("command",)),)) == (
        "no live daemon serving its queue can run kind send: "
        "start one with the app that registers it (`qrun serve --app MODULE:ATTR`)",
    )
    assert reasons(new_job(kind="send"), daemons=(daemon(kinds=("command", "send")),)) == ()
    assert reasons(new_job(), daemons=()) == (
        "no live daemon serves its queue default: no daemon has reported lately; start `qrun serve`",
    )


def test_a_running_or_finished_job_says_only_what_is_unusual():
    assert reasons(new_job().evolve(status=Status.DONE)) == ()
    assert reasons(new_job().evolve(status=Status.RUNNING, cancel_requested=True)) == (
        "stopping: a cancel was asked, its run is being killed",
    )


@given(
    delay=st.sampled_from([-30, 0, 30]),
    paused=st.booleans(),
    dep=st.sampled_from([None, "missing", *Status]),
    holders=st.integers(0, 3),
    limit=st.integers(1, 2),
    pool=st.sampled_from([None, "undeclared", 0, 1, 2]),
)
def test_no_reason_exactly_when_the_claim_takes_it(delay, paused, dep, holders, limit, pool):
    job = new_job(
        id="job",
        available_at=NOW + timedelta(seconds=delay),
        depends_on=() if dep is None else ("dep",),
        concurrency_key="k" if holders else None,
        concurrency_limit=limit,
        pool=None if pool is None else "p",
    )
    dependencies = {} if dep is None else {"dep": None if dep == "missing" else dep}
    sizes = {} if pool in (None, "undeclared") else {"p": 2}
    held = {"p": range(pool)} if isinstance(pool, int) else {}
    said = why_waiting(
        job,
        Surroundings(
            now=NOW,
            paused=frozenset({"default"}) if paused else frozenset(),
            dependencies=dependencies,
            key_holders=tuple(f"h{i}" for i in range(holders)),
            pool=Pool("p", 2, {s: f"x{s}" for s in held.get("p", ())}) if sizes else None,
        ),
    )
    taken = pick(
        [job],
        now=NOW,
        limit=1,
        running_per_key={"k": holders},
        is_done=lambda d: dependencies.get(d) is Status.DONE,
        paused=frozenset({"default"}) if paused else frozenset(),
        pools=states(sizes, held),
    )
    assert (said == ()) == bool(taken), said

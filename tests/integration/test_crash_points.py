"""`qrun serve` killed with SIGKILL at each crash point (adapters/crashpoints), on SQLite
and PostgreSQL, with the real subprocess runner; then a daemon of the same name takes
over. Each job ends `done`, and its command never runs twice at once; it runs exactly
once wherever a record of its end could be written (everywhere but a monitor that died
after starting it). The tests wait on files and rows, never on a sleep."""

import os

import pytest
from crashing import World, runs
from processes import open_store

from qrun.adapters.crashpoints import POINTS
from qrun.core import Status

WORKER_POINTS = ["claim", "prepare", "spawn", "stamp", "exit", "finish"]
ADOPTION_POINTS = ["adopt", "adopted"]
REAPER_POINTS = ["record", "reap"]
MONITOR_POINTS = ["monitor.claimed", "monitor.started", "monitor.exited"]


def test_every_crash_point_is_tested_here():
    assert {*WORKER_POINTS, *ADOPTION_POINTS, *REAPER_POINTS, *MONITOR_POINTS} == set(POINTS)


@pytest.fixture(params=["sqlite", "postgres"])
def world(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    env.update(QRUN_POLL_S="0.05", QRUN_REAPER_INTERVAL_S="0.2", QRUN_HTTP_PORT="0")
    if request.param == "sqlite":
        from qrun.adapters.sqlite import SqliteStore

        path = tmp_path / "qrun.db"
        SqliteStore.migrate(path)
        env["QRUN_DATABASE_URL"], where = str(path), str(path)
    else:
        from qrun.adapters.postgres import PostgresStore

        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("pg_schemas")()
        PostgresStore.migrate(url, schema=schema)
        env.update(QRUN_DATABASE_URL=url, QRUN_SCHEMA=schema)
        where = f"{url}#{schema}"
    store = open_store(request.param, where)
    yield World(tmp_path, env, store)
    store.close()


def assert_ran_once(world, job):
    assert job.status is Status.DONE, job.error
    assert runs(world.lines()) == [f"{job.id}/2"] and job.attempts == 1


@pytest.mark.slow
@pytest.mark.parametrize("point", WORKER_POINTS)
def test_a_daemon_killed_at_a_worker_crash_point_loses_and_repeats_nothing(world, point):
    world.go.touch()  # commands end at once: the exit is collected and written
    job_id = world.submit()
    try:
        world.killed_itself(world.serve("box", crash_at=point))
        world.serve("box")  # the same name: it recovers its dead predecessor's job at once
        job = world.done(job_id)
    finally:
        world.stop_all()
    assert job.status is Status.DONE, job.error
    assert len(runs(world.lines())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("point", ADOPTION_POINTS)
def test_a_daemon_killed_while_adopting_loses_and_repeats_nothing(world, point):
    job_id = world.submit()
    try:
        world.orphan(job_id, "box")
        world.killed_itself(world.serve("box", crash_at=point))  # recovers, adopts, dies
        world.serve("box")
        world.go.touch()
        job = world.done(job_id)
    finally:
        world.stop_all()
    assert_ran_once(world, job)


@pytest.mark.slow
@pytest.mark.parametrize("point", REAPER_POINTS)
def test_a_reaper_killed_while_finishing_an_orphan_loses_and_repeats_nothing(world, point):
    """The worker died; its command ended; another daemon's reaper records the exit (and,
    with no grace, finishes the job) and dies there; the dead worker's successor ends it."""
    job_id = world.submit()
    try:
        world.orphan(job_id, "box")
        world.go.touch()
        world.wait(lambda: len(world.lines()) == 2, "the command to end")
        world.killed_itself(world.serve("other", crash_at=point, QRUN_FINALIZE_GRACE_S="0"))
        world.serve("box")
        job = world.done(job_id)
    finally:
        world.stop_all()
    assert_ran_once(world, job)


@pytest.mark.slow
@pytest.mark.parametrize("point", MONITOR_POINTS)
def test_a_monitor_killed_at_a_crash_point_never_lets_two_runs_overlap(world, point):
    """A monitor that dies before the command starts: the command runs once, on a retry.
    After it starts, nothing can record the command's exit code any more: the daemon
    watches the command by its own identity and retries only once it has ended, so the
    command runs a second time, never beside the first (at least once, R-G5)."""
    if point == "monitor.exited":
        world.go.touch()
    job_id = world.submit()
    try:
        world.serve("box", crash_at=point)
        world.wait((world.root / "crashed").exists, "the monitor to reach its crash point")
        world.go.touch()
        job = world.done(job_id)
    finally:
        world.stop_all()
    assert job.status is Status.DONE, job.error
    ran = runs(world.lines())
    assert len(ran) == (1 if point == "monitor.claimed" else 2), world.lines()
    assert job.attempts == 2

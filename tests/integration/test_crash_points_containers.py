"""`qrun serve` killed with SIGKILL at the worker's crash points while it runs a job in a
container (a private Docker engine, CONTAINERS.md), then a daemon of the same name takes
over: the job ends `done` with its result, and the engine created one container for it,
ever. (The store does not change what a container runner does; the stores are covered
with the subprocess runner in test_crash_points.py.)"""

import os
import time

import docker
import pytest
from crashing import World

from qrun.adapters.docker.runner import LABEL
from qrun.adapters.sqlite import SqliteStore
from qrun.core import Status

pytestmark = [pytest.mark.docker, pytest.mark.slow]
RESULT = 'echo "{\\"answer\\": 42}" > $QRUN_OUTPUT_DIR/result.json'


@pytest.fixture
def world(tmp_path, docker_engine):
    base_url, image = docker_engine
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    env.update(QRUN_POLL_S="0.05", QRUN_REAPER_INTERVAL_S="0.2", QRUN_HTTP_PORT="0")
    if base_url:
        env["QRUN_DOCKER_HOST"] = base_url
    path = tmp_path / "qrun.db"
    SqliteStore.migrate(path)
    env["QRUN_DATABASE_URL"] = str(path)
    store = SqliteStore(path)
    client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
    w = World(tmp_path, env, store)
    w.image, w.client = image, client
    yield w
    client.close()
    store.close()


def created(world, job_id, since):
    events = world.client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"{LABEL}.job={job_id}"},
    )
    return len(list(events))


@pytest.mark.parametrize("point", ["claim", "spawn", "stamp", "exit", "finish", "adopt", "adopted"])
def test_a_daemon_killed_at_a_crash_point_runs_its_container_once(world, point):
    since = int(time.time()) - 1
    # Long enough that a daemon killed early still finds it running; ended by the time
    # the exit is collected: either way one container, adopted or collected.
    job_id = world.submit("container", image=world.image, argv=["sh", "-c", f"sleep 1; {RESULT}"])
    try:
        if point.startswith("adopt"):
            first = world.serve("box")
            world.wait(lambda: (j := world.store.get(job_id)).run and j.run.handle, "the container to start")
            first.kill()
            first.wait()
        world.killed_itself(world.serve("box", crash_at=point))
        world.serve("box")
        job = world.done(job_id)
    finally:
        world.stop_all()
    assert (job.status, job.result) == (Status.DONE, {"answer": 42}), job.error
    assert created(world, job_id, since) == 1

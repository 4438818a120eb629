"""The container runner against a real Docker engine (R-A7, R-C8, R-A1): no mocked SDK."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
from docker_engine import PrivateEngine, build_image

from qrun.adapters.docker import ContainerRunner
from qrun.adapters.docker.runner import LABEL
from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.worker import Worker
from qrun.contract.builders import new_job
from qrun.core import Liveness, Policy, Run, Status
from qrun.core.ports import Adopted, Gone, RunnerUnavailable

pytestmark = pytest.mark.docker


@pytest.fixture(name="engine")
def _engine(docker_engine):
    base_url, image = docker_engine
    client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
    yield base_url, image, client
    client.close()


def job_for(image, script, **payload):
    payload = {"image": image, "argv": ["sh", "-c", script], **payload}
    return new_job(kind="container", payload=payload, max_attempts=1, now=datetime.now(UTC))


def runner_at(tmp_path, base_url, **kw):
    return ContainerRunner(tmp_path / "runs", base_url=base_url, **kw)


def containers_of(client, job):
    return client.containers.list(all=True, filters={"label": f"{LABEL}.job={job.id}"})


WRITE_RESULT = (
    'echo "{\\"answer\\": 42}" > $QRUN_OUTPUT_DIR/result.json; echo note > $QRUN_OUTPUT_DIR/note.txt'
)


def test_a_run_reports_its_result_json_archives_its_output_and_leaves_no_container(tmp_path, engine):
    base_url, image, client = engine
    runner = runner_at(tmp_path, base_url)
    job = job_for(image, f"echo hello; {WRITE_RESULT}")
    run = Run(f"{job.id}/1")
    handle = runner.spawn(job, run)
    (c,) = containers_of(client, job)
    assert c.id == handle.ref and c.labels[f"{LABEL}.run"] == run.id and c.labels[f"{LABEL}.attempt"] == "0"
    assert c.attrs["HostConfig"]["NetworkMode"] == "none"
    done = runner.wait(handle, 30)
    assert (done.code, done.result, done.error) == (0, {"answer": 42}, None)
    where = runner.artifacts(job.id, run.id)
    assert (where / "out" / "note.txt").read_text() == "note\n"
    assert b"hello" in (where / "logs").read_bytes()
    assert containers_of(client, job) == []


def test_r_b5_an_exited_container_awaiting_collection_is_finalizing_not_dead(tmp_path, engine):
    """The reaper must not reap a run whose holder is still copying its output: that raced
    and ran the job twice. Only a container that is gone reads dead."""
    base_url, image, client = engine
    runner = runner_at(tmp_path, base_url)
    job = job_for(image, WRITE_RESULT)
    handle = runner.spawn(job, Run(f"{job.id}/1"))
    deadline = time.monotonic() + 30
    while client.containers.get(handle.ref).status != "exited" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.observe(handle) is Liveness.UNKNOWN
    assert runner.exit_code(handle) == 0  # what the reaper reads: it leaves the output be
    assert client.containers.get(handle.ref).status == "exited"
    assert runner.wait(handle, 30).result == {"answer": 42}
    assert runner.observe(handle) is Liveness.DEAD  # collected and removed


def test_inputs_are_mounted_read_only_and_limits_are_applied(tmp_path, engine):
    from qrun.adapters.storage.fs import FsInputStore

    base_url, image, client = engine
    inputs = FsInputStore(tmp_path / "inputs")
    runner = runner_at(tmp_path, base_url, inputs=inputs)
    job = job_for(
        image,
        "cat $QRUN_INPUTS_DIR/data.txt > $QRUN_OUTPUT_DIR/copy.txt; "
        'echo "{}" > $QRUN_OUTPUT_DIR/result.json; sleep 1',
        memory="64m",
        cpus=0.5,
    )
    inputs.put(job.id, "data.txt", b"input bytes")
    handle = runner.spawn(job, Run(f"{job.id}/1"))
    host = client.containers.get(handle.ref).attrs["HostConfig"]
    assert (host["Memory"], host["NanoCpus"]) == (64 * 1024 * 1024, 500_000_000)
    assert runner.wait(handle, 30).code == 0
    assert (runner.artifacts(job.id, f"{job.id}/1") / "out" / "copy.txt").read_bytes() == b"input bytes"


@pytest.mark.parametrize(
    ("script", "code", "error"),
    [
        (f"{WRITE_RESULT}; exit 3", 3, "exited with code 3"),
        ("echo '{not json' > $QRUN_OUTPUT_DIR/result.json", 1, "malformed /qrun/out/result.json"),
        ("true", 1, "wrote no /qrun/out/result.json"),
        ("ln -s /etc/passwd $QRUN_OUTPUT_DIR/leak; echo '{}' > $QRUN_OUTPUT_DIR/result.json", 1, "symlink"),
    ],
)
def test_failures_are_clear_and_name_the_container(tmp_path, engine, script, code, error):
    base_url, image, client = engine
    runner = runner_at(tmp_path, base_url)
    job = job_for(image, script)
    handle = runner.spawn(job, Run(f"{job.id}/1"))
    done = runner.wait(handle, 30)
    assert done.code == code and error in done.error and handle.ref[:12] in done.error
    assert containers_of(client, job) == []


def test_a_timeout_kills_the_container_and_still_archives_its_output(tmp_path, engine):
    base_url, image, client = engine
    runner = runner_at(tmp_path, base_url)
    job = job_for(image, "echo partial > $QRUN_OUTPUT_DIR/partial.txt; sleep 60", timeout_s=1)
    handle = runner.spawn(job, Run(f"{job.id}/1"))
    started = time.monotonic()
    done = runner.wait(handle, 30)
    assert time.monotonic() - started < 15
    assert done.code == 124 and "timed out" in done.error
    assert (runner.artifacts(job.id, f"{job.id}/1") / "out" / "partial.txt").read_text() == "partial\n"
    assert containers_of(client, job) == []


# -- adoption (R-A7) -----------------------------------------------------------------------
def test_r_a7_no_matching_container_gives_nothing_to_adopt(tmp_path, engine):
    base_url, image, _ = engine
    job = job_for(image, "true")
    assert isinstance(runner_at(tmp_path, base_url).adopt(job, Run(f"{job.id}/1")), Gone)


def test_r_a7_a_container_still_created_is_removed_and_gives_nothing(tmp_path, engine):
    base_url, image, client = engine
    job = job_for(image, "true")
    run = Run(f"{job.id}/1")
    client.containers.create(image, ["true"], labels={f"{LABEL}.job": job.id, f"{LABEL}.run": run.id})
    assert isinstance(runner_at(tmp_path, base_url).adopt(job, run), Gone)
    assert containers_of(client, job) == []


def test_r_a7_a_finished_container_gives_its_result_and_is_archived(tmp_path, engine):
    base_url, image, client = engine
    job = job_for(image, WRITE_RESULT)
    run = Run(f"{job.id}/1")
    handle = runner_at(tmp_path, base_url).spawn(job, run)
    client.containers.get(handle.ref).wait(timeout=30)
    fresh = runner_at(tmp_path, base_url)  # a new worker process: knows nothing of the first
    adopted = fresh.adopt(job, run)
    assert isinstance(adopted, Adopted) and adopted.handle.ref == handle.ref
    assert fresh.wait(adopted.handle, 0).result == {"answer": 42}
    assert (fresh.artifacts(job.id, run.id) / "out" / "note.txt").exists()


def test_r_a7_a_container_past_its_timeout_is_killed_as_timed_out_and_archived(tmp_path, engine):
    base_url, image, _ = engine
    job = job_for(image, "echo partial > $QRUN_OUTPUT_DIR/p.txt; sleep 60", timeout_s=1)
    run = Run(f"{job.id}/1")
    runner_at(tmp_path, base_url).spawn(job, run)
    time.sleep(1.5)
    fresh = runner_at(tmp_path, base_url)
    adopted = fresh.adopt(job, run)
    done = fresh.wait(adopted.handle, 0)
    assert done.code == 124 and "timed out" in done.error
    assert (fresh.artifacts(job.id, run.id) / "out" / "p.txt").read_text() == "partial\n"


def test_r_a7_a_running_container_is_watched_to_its_end(tmp_path, engine):
    base_url, image, _ = engine
    job = job_for(image, f"sleep 1; {WRITE_RESULT}")
    run = Run(f"{job.id}/1")
    runner_at(tmp_path, base_url).spawn(job, run)
    fresh = runner_at(tmp_path, base_url)
    adopted = fresh.adopt(job, run)
    assert fresh.wait(adopted.handle, 0) is None  # still running
    assert fresh.wait(adopted.handle, 30).result == {"answer": 42}


# -- the engine unavailable (R-C8) ---------------------------------------------------------
def test_r_c8_a_missing_image_or_unreachable_engine_requeues_without_spending_an_attempt(tmp_path, engine):
    base_url, _, _ = engine
    for runner, why in [
        (runner_at(tmp_path, base_url), "is not on the docker engine"),
        (runner_at(tmp_path, f"unix://{tmp_path}/no.sock"), "docker engine unreachable"),
    ]:
        job = job_for("qrun-test/absent:1", "true")
        with pytest.raises(RunnerUnavailable, match=why):
            runner.spawn(job, Run(f"{job.id}/1"))
        store = MemoryStore()
        store.submit([job])
        Worker(store, {"container": runner}, policy=Policy()).tick()
        after = store.get(job.id)
        assert (after.status, after.attempts, after.transient_attempts) == (Status.QUEUED, 0, 1), after
        assert why in after.error


def test_the_engine_stopped_mid_run_loses_nothing(tmp_path, docker_engine):
    """The worker keeps going while the engine is down (no crash, the job stays running);
    when the engine is back the job ends done with the container's result."""
    engine = PrivateEngine(Path(f"/tmp/qrun-dk-{os.getpid()}"), "--shutdown-timeout=1")
    engine.start()
    try:
        image = build_image(engine.base_url)
        store, clock = MemoryStore(), FakeClock(datetime.now(UTC))
        payload = {"image": image, "argv": ["sh", "-c", f"sleep 2; {WRITE_RESULT}"]}
        job = new_job(kind="container", payload=payload, now=clock.now())
        store.submit([job])
        worker = Worker(store, {"container": runner_at(tmp_path, engine.base_url)}, clock=clock)
        worker.tick()
        assert store.get(job.id).status is Status.RUNNING
        engine.stop()
        for _ in range(5):
            worker.tick()  # the engine is gone: no crash, the job stays running
        assert store.get(job.id).status is Status.RUNNING
        engine.start()
        deadline = time.monotonic() + 60
        while store.get(job.id).status is not Status.DONE and time.monotonic() < deadline:
            worker.tick()
            if store.get(job.id).status is Status.QUEUED:
                clock.advance(3600)  # the retry's backoff comes due
            time.sleep(0.1)
        done = store.get(job.id)
        assert (done.status, done.result) == (Status.DONE, {"answer": 42}), done
        # Whether the engine's shutdown stopped the container (then it ran again) or its
        # shim kept it running (then it was watched to its end) is the engine's choice.
        assert done.attempts in (1, 2)
    finally:
        engine.stop()


def test_a_worker_killed_while_its_container_runs_is_adopted_and_the_job_ends_once(tmp_path, engine):
    """kill -9 of the daemon; a new daemon adopts the container; one container ever ran."""
    base_url, image, client = engine
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_") or k.startswith("QRUN_TEST_")}
    env.update(QRUN_POLL_S="0.05", QRUN_REAPER_INTERVAL_S="0.5", QRUN_HTTP_PORT="0")
    if base_url:
        env["QRUN_DOCKER_HOST"] = base_url
    qrun = [sys.executable, "-m", "qrun.bootstrap.cli"]

    def cli(*args):
        done = subprocess.run(
            [*qrun, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    since = int(time.time()) - 1
    job_id = cli(
        "submit", "--runner", "docker", "--image", image, "--shell", "--", f"sleep 2; {WRITE_RESULT}"
    ).strip()
    show = lambda: json.loads(cli("show", job_id, "--json"))  # noqa: E731
    first = subprocess.Popen(
        [*qrun, "serve", "--name", "box"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not (show()["run"] or {}).get("handle") and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = subprocess.Popen(
        [*qrun, "serve", "--name", "box"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while show()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    job = show()
    assert (job["status"], job["result"], job["attempts"], job["adoptions"]) == ("done", {"answer": 42}, 1, 1)
    created = client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"{LABEL}.job={job_id}"},
    )
    assert len(list(created)) == 1  # adopted, never started twice
    assert containers_of(client, new_job(id=job_id)) == []

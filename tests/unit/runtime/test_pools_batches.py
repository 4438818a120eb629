"""Pools and batches around the store: the worker places a pool job in its slot (R-E3),
the app submits and waits on batches (R-E1), config and HTTP refuse bad input clearly."""

import pytest
from fakes import FakeRunner
from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import ConfigError, load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.worker import Worker
from qrun.bootstrap.testing import app_for_tests
from qrun.contract.builders import T0, new_job
from qrun.core import Cancel, Policy, Status
from qrun.core.pools import Placement


class Recorder(FakeRunner):
    def spawn(self, job, run):
        self.seen = job
        return super().spawn(job, run)


class Slots:
    name = "wt"

    def __init__(self, fail=None):
        self.prepared, self.fail = [], fail

    def prepare(self, slot):
        if self.fail:
            raise self.fail
        self.prepared.append(slot)
        return Placement(f"/wts/slot-{slot}", {"QRUN_WORKTREE": f"/wts/slot-{slot}"})


def worker_with(store, runner, pools):
    clock = FakeClock(T0)
    return Worker(store, {"command": runner}, clock=clock, policy=Policy(), pools=pools), clock


def test_r_e3_a_pool_job_runs_in_its_prepared_slot_with_its_slot_in_the_environment():
    store, runner, slots = MemoryStore(), Recorder(), Slots()
    store.set_pool("wt", 2)
    job = new_job(kind="command", payload={"argv": ["make"], "cwd": "src", "env": {"A": "1"}}, pool="wt")
    store.submit([job])
    worker, _ = worker_with(store, runner, {"wt": slots})
    worker.tick()
    assert slots.prepared == [0]
    assert runner.seen.payload["cwd"] == "/wts/slot-0/src"
    assert runner.seen.payload["env"] == {
        "QRUN_POOL": "wt",
        "QRUN_POOL_SLOT": "0",
        "QRUN_WORKTREE": "/wts/slot-0",
        "A": "1",
    }
    assert store.get(job.id).payload == job.payload  # the stored job is unchanged


def test_r_e3_a_slot_that_cannot_be_prepared_is_a_transient_failure_and_the_slot_is_given_back():
    store, runner = MemoryStore(), Recorder()
    store.set_pool("wt", 1)
    job = new_job(kind="command", payload={"argv": ["make"]}, pool="wt", max_attempts=1)
    store.submit([job])
    worker, _ = worker_with(store, runner, {"wt": Slots(fail=OSError("disk full"))})
    worker.tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.attempts == 0 and got.transient_attempts == 1
    assert "disk full" in got.error
    assert runner.spawned == [] and dict(store.pools()["wt"].holders) == {}


def test_r_e3_a_pool_without_an_adapter_still_tells_the_job_its_slot():
    store, runner = MemoryStore(), Recorder()
    store.set_pool("gpu", 2)
    store.submit([new_job(kind="command", payload={"argv": ["train"]}, pool="gpu")])
    worker_with(store, runner, {})[0].tick()
    assert runner.seen.payload["env"] == {"QRUN_POOL": "gpu", "QRUN_POOL_SLOT": "0"}
    assert "cwd" not in runner.seen.payload


def test_r_e3_submitting_to_an_undeclared_pool_is_refused_naming_it():
    app = app_for_tests()
    with pytest.raises(ValueError, match=r"pool 'gpu' is not declared; add \[pools.gpu\]"):
        app.submit("command", {"argv": ["true"]}, pool="gpu")
    assert app.store.list() == []


def test_r_e3_pools_in_the_config_are_declared_in_the_store():
    app = app_for_tests(pools={"gpu": {"size": 2}})
    assert app.store.pools()["gpu"].size == 2


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ({"wt": {"size": -1}}, "pools.wt: .*size must be a whole number >= 0"),
        ({"wt": {"size": 2, "kind": "git-worktree"}}, "pools.wt: .*needs repo"),
        ({"wt": {"size": 2, "kind": "nfs"}}, "pools.wt: .*kind must be"),
        ({"wt": {"size": 2, "colour": "red"}}, "pools.wt: .*colour"),
        ({"a b": {"size": 1}}, "pool name 'a b'"),
    ],
)
def test_bad_pool_configuration_is_refused_naming_the_setting(pools, message):
    with pytest.raises(ConfigError, match=message):
        load(env={}, pools=pools)


def test_a_worktree_pool_of_a_directory_that_is_not_a_repository_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"pools.wt: .*not a git repository"):
        app_for_tests(pools={"wt": {"size": 1, "kind": "git-worktree", "repo": str(tmp_path)}})


def test_pools_from_the_environment_as_json():
    config = load(env={"QRUN_POOLS": '{"gpu": {"size": 4}}'})
    assert config.pools["gpu"].size == 4


def test_r_e1_a_batch_is_submitted_whole_and_summarised_and_waited_on():
    app = app_for_tests()
    batch = app.submit_batch(
        [{"kind": "command", "payload": {"argv": ["true"]}} for _ in range(3)], queue="ci", batch="b7"
    )
    assert batch == "b7"
    assert {j.queue for j in app.store.list()} == {"ci"} and app.batch("b7").count(Status.QUEUED) == 3
    seen = []
    late = app.wait_batch("b7", timeout_s=0.05, poll_s=0.01, progress=seen.append)
    assert not late.complete and seen


def test_r_e1_a_bad_item_refuses_the_whole_batch_naming_the_item():
    app = app_for_tests()
    items = [{"kind": "command", "payload": {"argv": ["true"]}}, {"kind": "command", "payload": {"argv": []}}]
    with pytest.raises(ValueError, match=r"batch item 1: .*argv"):
        app.submit_batch(items)
    assert app.store.list() == []
    with pytest.raises(ValueError, match="at least one job"):
        app.submit_batch([])


def test_r_e1_waiting_on_an_unknown_batch_says_so():
    with pytest.raises(ValueError, match="batch nope has no jobs"):
        app_for_tests().wait_batch("nope", timeout_s=1)


def test_r_e1_batches_and_pools_over_http(tmp_path):
    app = app_for_tests(pools={"wt": {"size": 3}})
    client = TestClient(create_api(app, token="t"), headers={"Authorization": "Bearer t"})
    auth = {"Authorization": "Bearer t"}
    body = {"batch": "h1", "jobs": [{"kind": "command", "payload": {"argv": ["true"]}, "pool": "wt"}] * 2}
    assert client.post("/batches", json=body, headers={"Authorization": ""}).status_code == 401
    made = client.post("/batches", json=body, headers=auth)
    assert made.status_code == 201 and made.json() == {"batch": "h1"}
    shown = client.get("/batches/h1").json()
    assert (shown["total"], shown["counts"], shown["complete"]) == (2, {"queued": 2}, False)
    assert len(client.get("/jobs", params={"batch": "h1"}).json()) == 2
    assert client.get("/pools").json() == {"wt": {"size": 3, "in_use": 0, "holders": {}}}
    refused = client.delete("/batches/h1", headers=auth)
    assert refused.status_code == 409 and "still queued or running" in refused.json()["detail"]
    assert client.get("/batches/none").status_code == 404
    bad = client.post(
        "/batches", json={"jobs": [{"kind": "command", "payload": {}, "pool": "x"}]}, headers=auth
    )
    assert bad.status_code == 422


def test_building_an_app_writes_nothing_pools_are_declared_by_migrate_and_by_a_starting_daemon(tmp_path):
    import threading

    from qrun.adapters.sqlite import SqliteStore
    from qrun.bootstrap.wiring import bootstrap, migrate

    db = str(tmp_path / "q.db")
    config = load(env={}, database_url=db, http_port=0, pools={"gpu": {"size": 2}})
    SqliteStore.migrate(db, prefix="qrun_")
    app = bootstrap(config)
    assert app.store.pools() == {}  # the composition root only wires
    stop = threading.Event()
    stop.set()  # a daemon that stops at once still declares its pools before it claims
    app.serve(stop, handle_signals=False)
    assert app.store.pools()["gpu"].size == 2
    migrate(load(env={}, database_url=db, pools={"gpu": {"size": 3}}))
    assert app.store.pools()["gpu"].size == 3


def test_a_job_born_cancelled_after_its_dependency_keeps_no_inputs(tmp_path):
    """Submitted after a dependency that was cancelled, a job is born cancelled and never
    runs: the files submitted with it are not kept."""
    app = app_for_tests(inputs_dir=str(tmp_path / "inputs"))
    parent = app.submit("command", {"argv": ["true"]})
    app.act(parent, Cancel())
    child = app.submit("command", {"argv": ["cat", "x"]}, inputs={"x": b"data"}, depends_on=(parent,))
    assert app.store.get(child).status is Status.CANCELLED
    assert app.inputs.names(child) == []
    free = app.submit("command", {"argv": ["cat", "x"]}, inputs={"x": b"data"})
    assert app.inputs.names(free) == ["x"]  # a job that will run keeps them

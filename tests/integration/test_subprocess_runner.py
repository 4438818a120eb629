"""The subprocess runner with real processes: exits, timeouts, kills, identity (R-C7)
and adoption after the worker that spawned the run was killed (R-A6)."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from qrun.adapters.runners.command import InvalidPayload
from qrun.adapters.runners.procs import ProcessId, identify, liveness
from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.contract.builders import new_job
from qrun.core import ClaimRequest, Liveness, Run
from qrun.core.ports import Adopted, Gone


@pytest.fixture(name="runner", params=["native", "python"])
def _runner(tmp_path, request):
    """Both monitors keep one protocol: every test here runs on each."""
    return SubprocessRunner(tmp_path / "runs", monitor=request.param)


def command(payload, run_id="run-1"):
    return new_job(kind="command", payload=payload), Run(run_id)


def test_a_command_runs_to_exit_zero_with_its_output_kept(runner):
    job, run = command({"argv": ["sh", "-c", "echo out; echo err >&2"]})
    handle = runner.spawn(job, run)
    done = runner.wait(handle, 20)
    assert done is not None and done.code == 0 and done.error is None
    assert runner.output(handle) == (b"out\n", b"err\n")
    assert runner.observe(handle) is Liveness.DEAD


def test_a_non_zero_exit_is_reported(runner):
    handle = runner.spawn(*command({"argv": ["sh", "-c", "exit 3"]}))
    done = runner.wait(handle, 20)
    assert done is not None and (done.code, done.error) == (3, "exit code 3")


def test_argv_is_not_interpreted_by_a_shell(runner, tmp_path):
    marker = tmp_path / "pwned"
    handle = runner.spawn(*command({"argv": ["echo", f"; touch {marker}"]}))
    assert runner.wait(handle, 20).code == 0
    assert not marker.exists()
    assert runner.output(handle)[0] == f"; touch {marker}\n".encode()


def test_a_shell_command_runs_only_when_asked_for(runner):
    handle = runner.spawn(*command({"shell": "echo $((6 * 7))"}))
    assert runner.wait(handle, 20).code == 0
    assert runner.output(handle)[0] == b"42\n"


def test_cwd_and_env_reach_the_command(runner, tmp_path):
    handle = runner.spawn(
        *command(
            {"argv": ["sh", "-c", "pwd; echo $GREETING"], "cwd": str(tmp_path), "env": {"GREETING": "hi"}}
        )
    )
    assert runner.wait(handle, 20).code == 0
    assert runner.output(handle)[0] == f"{tmp_path}\nhi\n".encode()


def test_a_command_past_its_timeout_is_stopped(runner):
    start = time.monotonic()
    handle = runner.spawn(*command({"argv": ["sleep", "30"], "timeout_s": 0.5}))
    done = runner.wait(handle, 20)
    assert done is not None and done.error == "timed out" and done.code != 0
    assert time.monotonic() - start < 15


def test_kill_stops_the_command_and_its_children(runner, tmp_path):
    pidfile = tmp_path / "grandchild"
    handle = runner.spawn(*command({"shell": f"sleep 60 & echo $! > {pidfile}; wait"}))
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    runner.kill(handle)
    done = runner.wait(handle, 20)
    assert done is not None and done.error == "killed"
    time.sleep(0.2)
    who = identify(grandchild)
    assert who is None or liveness(who) is Liveness.DEAD


def test_r_c7_a_reused_pid_never_looks_alive():
    """R-C7: a live pid with another start time is not the process we started."""
    me = identify(os.getpid())
    assert me is not None and liveness(me) is Liveness.ALIVE
    assert liveness(ProcessId(me.boot, me.pid, me.start + 1)) is Liveness.DEAD
    assert liveness(ProcessId("another-boot", me.pid, me.start)) is Liveness.DEAD


def test_r_c7_a_finished_process_reads_dead(runner):
    handle = runner.spawn(*command({"argv": ["true"]}))
    runner.wait(handle, 20)
    assert runner.observe(handle) is Liveness.DEAD


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "exactly one of"),
        ({"argv": ["a"], "shell": "b"}, "exactly one of"),
        ({"argv": "echo hi"}, "non-empty list of strings"),
        ({"argv": []}, "non-empty list of strings"),
        ({"shell": ""}, "non-empty string"),
        ({"argv": ["x"], "env": {"A": 1}}, "map strings to strings"),
        ({"argv": ["x"], "timeout_s": 0}, "positive number"),
    ],
)
def test_a_malformed_command_is_refused_with_how_to_fix_it(runner, payload, message):
    with pytest.raises(InvalidPayload, match=message):
        runner.spawn(*command(payload))


@pytest.mark.parametrize("job_id", ["../../escape", "/abs", "..", "a/../../b"])
def test_run_directories_never_escape_the_runs_root(runner, job_id):
    path = runner.run_dir(job_id, "../run")
    assert runner.runs_dir in path.parents


def test_r_a6_nothing_to_adopt_without_a_run_directory(runner):
    assert runner.adopt(*command({"argv": ["true"]})) == Gone()


def test_r_a6_a_dead_monitor_without_a_recorded_exit_gives_nothing_to_adopt(runner):
    job, run = command({"argv": ["true"]})
    root = runner.run_dir(job.id, run.id)
    root.mkdir(parents=True)
    me = identify(os.getpid())
    (root / "monitor.json").write_text(json.dumps({"ref": ProcessId(me.boot, me.pid, me.start + 1).ref()}))
    assert runner.adopt(job, run) == Gone()


WORKER = textwrap.dedent(
    """
    import sys, time
    from qrun.adapters.runners.subprocess_runner import SubprocessRunner
    from qrun.contract.builders import new_job
    from qrun.core import Run
    runner = SubprocessRunner(sys.argv[1])
    job = new_job(id="adopt-me", kind="command", payload={"shell": "sleep 1; echo finished"})
    runner.spawn(job, Run("run-1"))
    print("spawned", flush=True)
    time.sleep(60)
    """
)


def test_r_a6_a_new_worker_adopts_a_run_whose_worker_was_killed(tmp_path):
    """R-A6: the worker is SIGKILLed mid-run; the run goes on and a new runner adopts it."""
    runs = tmp_path / "runs"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(runs)], stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "spawned"
    job = new_job(id="adopt-me", kind="command", payload={"shell": "sleep 1; echo finished"})
    fresh = SubprocessRunner(runs)
    started = fresh.run_dir(job.id, "run-1") / "child.json"
    _until(started.exists, "the command to start")  # mid-run: the monitor runs the command
    worker.kill()
    worker.wait()
    adopted = fresh.adopt(job, Run("run-1"))
    assert isinstance(adopted, Adopted)
    done = fresh.wait(adopted.handle, 20)
    assert done is not None and done.code == 0
    assert fresh.output(adopted.handle)[0] == b"finished\n"
    # Adopting again after it finished still gives its recorded exit.
    again = fresh.adopt(job, Run("run-1"))
    assert isinstance(again, Adopted) and fresh.wait(again.handle, 1).code == 0


def _until(check, what, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _orphaned_command(runner, tmp_path):
    """A command whose monitor was SIGKILLed while the command runs on (until `go`)."""
    go = tmp_path / "go"
    job, run = command({"shell": f"until [ -e {go} ]; do sleep 0.05; done"})
    handle = runner.spawn(job, run)
    root = runner.run_dir(job.id, run.id)
    _until((root / "child.json").exists, "the monitor to record its command")
    monitor = ProcessId.parse(json.loads((root / "monitor.json").read_text())["ref"])
    os.kill(monitor.pid, 9)
    _until(
        lambda: runner.wait(handle, 0) is None and liveness(monitor) is Liveness.DEAD, "the monitor to die"
    )
    return job, run, handle, go


def test_a_command_that_outlives_its_monitor_is_still_its_run(runner, tmp_path):
    """The monitor died, the command lives: the run reads alive, has no exit yet, is
    adopted (never started again) and can still be stopped, through the command itself."""
    job, run, handle, _go = _orphaned_command(runner, tmp_path)
    assert runner.observe(handle) is Liveness.ALIVE
    assert runner.exit_code(handle) is None and runner.wait(handle, 0) is None
    assert isinstance(runner.adopt(job, run), Adopted)
    runner.kill(handle)
    _until(lambda: runner.observe(handle) is Liveness.DEAD, "the command to be stopped")
    done = runner.wait(handle, 0)
    assert done is not None and done.code == -1 and "its command ended" in done.error
    assert runner.adopt(job, run) == Gone()


def test_r_b1_a_run_whose_monitor_and_command_died_is_reaped_after_dead_ticks(runner, tmp_path):
    """R-B1: two dead observations, not the finalize grace (300 s here), free the job; while
    the command outlived its monitor, the reaper left it alone."""
    from qrun.adapters.memory import MemoryStore
    from qrun.bootstrap.runtime.clock import FakeClock
    from qrun.bootstrap.runtime.reaper import Reaper
    from qrun.contract.base import step
    from qrun.contract.builders import T0
    from qrun.core import Policy, Spawned, Status

    policy = Policy(dead_ticks=2, finalize_grace_s=300)
    job, _run, handle, go = _orphaned_command(runner, tmp_path)
    store, clock = MemoryStore(), FakeClock(T0)
    store.submit([job])
    [claimed] = store.claim(
        ClaimRequest("w1", limit=1, now=T0, lease_until=T0.replace(year=2031), policy=policy)
    )
    step(store, claimed.job, Spawned(handle))
    reaper = Reaper(store, {"command": runner}, policy=policy, clock=clock)
    for _ in range(3):  # the command lives: never reaped, never retried
        assert reaper.tick() == []
    assert store.get(job.id).status is Status.RUNNING
    go.touch()
    _until(lambda: runner.observe(handle) is Liveness.DEAD, "the command to end")
    assert reaper.tick() == []
    [repair] = reaper.tick()
    assert "reaped (dead)" in repair.done and store.get(job.id).status is Status.QUEUED


def test_a_run_given_up_before_its_monitor_claimed_it_never_starts(runner, tmp_path):
    """The spawn protocol: an adopter that finds no monitor gives the run up, and a monitor
    that comes up later starts nothing, so the retry is the only run."""
    marker = tmp_path / "ran"
    job, run = command({"shell": f"echo ran > {marker}"})
    root = runner.run_dir(job.id, run.id)
    root.mkdir(parents=True)
    (root / "spec.json").write_text(json.dumps({"argv": ["sh", "-c", f"echo ran > {marker}"], "env": {}}))
    assert runner.adopt(job, run) == Gone()  # no monitor yet: given up
    late = subprocess.run([*runner.monitor_command(), str(root)], timeout=60, check=True)
    assert late.returncode == 0
    assert not marker.exists() and not (root / "exit.json").exists()
    assert runner.adopt(job, run) == Gone()


def test_a_monitor_that_cannot_record_the_exit_keeps_trying_and_the_run_is_not_lost(runner, tmp_path):
    """A full disk (here: a folder where the monitor writes its exit) must not turn a
    finished command into a run to start again: the monitor lives on, retrying, so the
    run reads alive with no exit; once the write can land, the exit is the command's."""
    go = tmp_path / "go"
    job, run = command({"shell": f"until [ -e {go} ]; do sleep 0.02; done; echo did-it"})
    handle = runner.spawn(job, run)
    root = runner.run_dir(job.id, run.id)
    _until((root / "child.json").exists, "the command to start")
    (root / "exit.tmp").mkdir()  # every attempt to write exit.json now fails
    go.touch()
    log = root / "monitor.log"
    _until(lambda: log.exists() and "cannot record the exit" in log.read_text(), "a failed write")
    assert runner.wait(handle, 0) is None and runner.observe(handle) is Liveness.ALIVE
    assert isinstance(runner.adopt(job, run), Adopted)
    (root / "exit.tmp").rmdir()
    done = runner.wait(handle, 30)
    assert done is not None and (done.code, done.error) == (0, None)
    assert runner.output(handle)[0] == b"did-it\n"


def test_a_run_on_another_host_is_never_judged_dead_from_here(runner, tmp_path):
    """Daemons on many hosts share one database, and every reaper judges every running
    job: one whose command runs on another host (another boot, a folder not here) reads
    unknown, so no reaper here reaps it, and it is never started again beside itself."""
    from qrun.core import Handle

    elsewhere = Handle("subprocess", f"other-boot:4242:99@{tmp_path / 'not-here' / 'r-run'}")
    assert runner.observe(elsewhere) is Liveness.UNKNOWN
    assert runner.exit_code(elsewhere) is None

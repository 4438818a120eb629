"""R-E1..R-E4 end to end: a batch of 50 shell jobs that each need one of a pool of 3 git
worktrees, run by 2 `qrun serve` daemons, one of which is killed with SIGKILL half-way.
Every job ends done exactly once, never more than 3 worktrees are in use, each job starts
in a clean worktree, and all 3 slots are free at the end."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from gitrepo import make_repo

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
JOBS = 50

# Each job proves what it was promised: it runs in a worktree slot (cwd), the tree is
# clean when it starts (the previous job's leftovers were reset away), and no other job
# is in its slot (mkdir is atomic: a second holder of the slot would fail it).
SCRIPT = """
set -e
[ -z "$(git status --porcelain)" ] || {{ echo "dirty worktree at start"; exit 3; }}
[ "$PWD" = "$QRUN_WORKTREE" ] || {{ echo "not in the worktree: $PWD"; exit 4; }}
mkdir "{locks}/slot-$QRUN_POOL_SLOT" || {{ echo "slot $QRUN_POOL_SLOT in use"; exit 5; }}
echo "job-{i} start $QRUN_POOL_SLOT $QRUN_JOB_ID" >> "{log}"
echo leftover > "leftover-{i}.txt"; echo scribble >> tracked.txt
sleep 0.25
rmdir "{locks}/slot-$QRUN_POOL_SLOT"
echo "job-{i} end" >> "{log}"
"""


def qrun_env(tmp_path, **settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_") or k.startswith("QRUN_TEST_")}
    env.update(
        QRUN_POLL_S="0.05",
        QRUN_REAPER_INTERVAL_S="0.5",
        QRUN_LEASE_S="3",
        QRUN_SLOTS="2",
        QRUN_HTTP_PORT="0",
        QRUN_CONFIG=str(tmp_path / "qrun.toml"),
        **settings,
    )
    return env


def run(tmp_path, env, *args, timeout=60):
    done = subprocess.run(
        [*QRUN, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"qrun {' '.join(args)}: {done.stderr}"
    return done.stdout


def batch_across_a_worktree_pool(tmp_path, env):
    repo = make_repo(tmp_path / "repo")
    (tmp_path / "qrun.toml").write_text(
        f'[pools.wt]\nsize = 3\nkind = "git-worktree"\nrepo = "{repo}"\nroot = "{tmp_path / "wts"}"\n'
    )
    locks, log = tmp_path / "locks", tmp_path / "ran.log"
    locks.mkdir()
    # Two attempts: a job whose worker is killed after its claim but before its command
    # started is re-run, and R-G4 counts that re-run as an attempt.
    items = [{"shell": SCRIPT.format(i=i, locks=locks, log=log), "max_attempts": 2} for i in range(JOBS)]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(item) for item in items))
    run(tmp_path, env, "migrate")
    batch = run(tmp_path, env, "batch", "submit", "jobs.jsonl", "--pool", "wt", "--batch", "e2e").strip()
    assert batch == "e2e"

    daemons = [
        subprocess.Popen(
            [*QRUN, "serve", "--name", f"d{i}"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    most_in_use, killed = 0, False
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pools = json.loads(run(tmp_path, env, "pools", "--json"))
            most_in_use = max(most_in_use, pools["wt"]["in_use"])
            summary = json.loads(run(tmp_path, env, "batch", "show", "e2e", "--json"))
            if not killed and summary["counts"].get("done", 0) >= JOBS // 2:
                daemons[0].send_signal(signal.SIGKILL)  # mid-batch, holding runs and slots
                killed = True
            if summary["complete"]:
                break
            time.sleep(0.2)
        waited = subprocess.run(
            [*QRUN, "wait", "--batch", "e2e", "--timeout", "60"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        for d in daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
        logs = [d.communicate(timeout=60)[1] for d in daemons]
    assert killed, "the batch ended before a daemon could be killed half-way"
    assert waited.returncode == 0, waited.stderr + "\n" + logs[1][-3000:]
    assert f"batch e2e: {JOBS}/{JOBS} finished  done={JOBS}" in waited.stderr

    summary = json.loads(run(tmp_path, env, "batch", "show", "e2e", "--json"))
    assert summary["counts"] == {"done": JOBS} and summary["succeeded"]
    assert summary["durations_s"]["count"] == JOBS and summary["durations_s"]["min"] >= 0.25

    lines = log.read_text().splitlines()
    starts = Counter(line.split()[0] for line in lines if " start " in line)
    ends = Counter(line.split()[0] for line in lines if line.endswith(" end"))
    assert starts == Counter({f"job-{i}": 1 for i in range(JOBS)}), "a job ran twice or never"
    assert ends == starts
    assert {line.split()[2] for line in lines if " start " in line} <= {"0", "1", "2"}
    assert 1 <= most_in_use <= 3
    final = json.loads(run(tmp_path, env, "pools", "--json"))["wt"]
    assert (final["size"], final["in_use"], final["holders"]) == (3, 0, {})
    assert sorted(p.name for p in (tmp_path / "wts").iterdir() if p.is_dir()) == [
        "slot-0",
        "slot-1",
        "slot-2",
    ]
    assert list(locks.iterdir()) == []
    run(tmp_path, env, "batch", "clear", "e2e")
    assert json.loads(run(tmp_path, env, "ls", "--json")) == []


def test_r_e1_e3_e4_a_batch_across_a_worktree_pool_survives_a_killed_worker_on_sqlite(tmp_path):
    batch_across_a_worktree_pool(tmp_path, qrun_env(tmp_path))


@pytest.mark.postgres
def test_r_e1_e3_e4_a_batch_across_a_worktree_pool_survives_a_killed_worker_on_postgres(
    tmp_path, postgres_url, pg_schemas
):
    env = qrun_env(tmp_path, QRUN_DATABASE_URL=postgres_url, QRUN_SCHEMA=pg_schemas())
    batch_across_a_worktree_pool(tmp_path, env)

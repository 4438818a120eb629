"""A real daemon with one workflow, for the crash and race tests:

    python workflow_proc.py serve DATABASE_URL SCHEMA LOG     # serve until killed
    python workflow_proc.py start DATABASE_URL SCHEMA         # start a session, print its id

`seed` publishes 6 events once; `slow` logs the events of each iteration, sleeps, and
costs 1. Sessions take 2 events per iteration."""

import json
import sys
import time

from qrun.bootstrap.config import load
from qrun.bootstrap.runtime.workflows import start_session
from qrun.bootstrap.wiring import bootstrap
from qrun.core.workflow import SESSION_KIND, Trigger

cmd, url, schema = sys.argv[1:4]
config = load(
    env={},
    database_url=url,
    schema=schema,
    http_port=0,
    poll_s=0.05,
    reaper_interval_s=0.5,
    lease_s=3,
    worker_name="wf",
    state_dir=sys.argv[5] if len(sys.argv) > 5 else "./.qrun/state",
)
app = bootstrap(config)
if cmd == "start":
    print(start_session(app.store, app.clock, "etl", Trigger.MANUAL), flush=True)
    sys.exit(0)

log = open(sys.argv[4], "a")  # noqa: SIM115


@app.handler()
def seed(ctx):
    for n in range(6):
        ctx.publish({"n": n})
    log.write(json.dumps({"handler": "seed", "iteration": 0}) + "\n")
    log.flush()


@app.handler()
def slow(ctx):
    log.write(
        json.dumps(
            {"handler": "slow", "iteration": ctx.iteration, "events": [e.payload["n"] for e in ctx.events]}
        )
        + "\n"
    )
    log.flush()
    time.sleep(1.5)
    return 1


app.workflow("etl", producers=["seed"], consumers=["slow"], topic="rows", max_iterations=10)
app.runners[SESSION_KIND].batch = 2
app.serve()

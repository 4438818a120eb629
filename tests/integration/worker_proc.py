"""A real worker process for the crash tests: python worker_proc.py KIND TARGET RUNS_DIR LEASE_S"""

import pathlib
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from processes import open_store

from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.bootstrap.runtime.worker import Worker, WorkerSettings

kind, target, runs, lease_s = sys.argv[1:5]
worker = Worker(
    open_store(kind, target),
    {"command": SubprocessRunner(runs)},
    settings=WorkerSettings(name="crashy", slots=2, lease_s=float(lease_s), poll_s=0.05),
)
print(worker.id, flush=True)
worker.run(threading.Event())

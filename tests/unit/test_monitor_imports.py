"""Every command job starts a monitor (`python -m qrun.adapters.runners.monitor`), so what
it imports is paid once per command: it imports neither qrun.core nor attrs, returns or
cattrs (issue 31: those took about 90 ms of each command's start)."""

import json
import subprocess
import sys

HEAVY = ("qrun.core", "attr", "attrs", "returns", "cattrs", "psycopg")


def test_the_monitor_imports_nothing_heavy():
    probe = (
        "import json, sys, qrun.adapters.runners.monitor; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith('qrun.core'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: a module that does import qrun.core is caught."""
    probe = (
        "import json, sys, qrun.adapters.runners.subprocess_runner; "
        "print(json.dumps('qrun.core' in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) is True

"""The README's quick start, run exactly as it is written: its files are written as shown,
its shell block runs in bash in a fresh folder, and every command must succeed."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
BLOCK = re.compile(r"<!-- quickstart: (\S+) -->\n```\w*\n(.*?)```", re.S)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall(README.read_text()))


def test_the_readme_has_the_quick_start_blocks():
    assert {"tasks.py", "web.py", "run"} <= set(blocks())


def test_the_quick_start_runs_as_written(tmp_path):
    found = blocks()
    for name, text in found.items():
        if name != "run":
            (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    # The venv's `qrun` and `python` first, as in an activated venv; no HTTP port, so
    # parallel tests never clash; a quick poll, so the run takes seconds.
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", QRUN_HTTP_PORT="0", QRUN_POLL_S="0.1")
    script = f"set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{found['run']}"
    done = subprocess.run(  # noqa: PLW1510 - checked below, with the output in the message
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(line.startswith("{'job': ") for line in lines), done.stdout  # the endpoint enqueued
    assert "5" in lines, done.stdout  # app.result of add(2, 3)
    assert "send" in done.stdout and "done" in done.stdout  # qrun ls shows the sent mail, done

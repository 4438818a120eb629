"""A real git repository made for a test."""

import subprocess
from pathlib import Path


def git(where, *args):
    return subprocess.run(
        ["git", "-C", str(where), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.invalid")
    git(path, "config", "user.name", "test")
    (path / "tracked.txt").write_text("v1\n")
    (path / ".gitignore").write_text("build/\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "v1")
    return path

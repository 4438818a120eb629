"""core/ is pure: it imports nothing that reads a clock, does I/O, logs or starts threads."""

import ast
import pathlib

import qrun.core

ALLOWED = {
    "__future__",
    "attrs",
    "returns",
    "collections",
    "statistics",
    "datetime",
    "enum",
    "typing",
    "hashlib",
    "heapq",
    "itertools",
    "functools",
    "dataclasses",
    "abc",
    "math",
    "contextlib",  # for AbstractContextManager in a port's signature; core opens no context
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "sleep", "open", "print"}


def core_files():
    return sorted(pathlib.Path(qrun.core.__file__).parent.glob("*.py"))


def test_core_imports_only_pure_modules():
    for path in core_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_core_calls_no_clock_and_no_io():
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                assert name not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {name}()"

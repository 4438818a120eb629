"""qrun's import graph, read from the source with the package mapping of pyproject.toml
(`qrun.core` is the folder core/, and so on), and the layer rules it must keep.

    python scripts/imports.py            # the rules; exit 1 naming each break
    python scripts/imports.py --layers   # which layer imports which, with counts
    python scripts/imports.py --dot      # every module edge, for graphviz

tests/unit/test_layers.py runs the rules in CI."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The layers, innermost first: a module belongs to the first whose prefix it has.
LAYERS = (
    ("core", "qrun.core"),
    ("contract", "qrun.contract"),
    ("adapters", "qrun.adapters"),
    ("runtime", "qrun.bootstrap.runtime"),
    ("usecases", "qrun.bootstrap.usecases"),
    ("daemon", "qrun.bootstrap.daemon"),
    ("cli", "qrun.bootstrap.cli"),
    ("http", "qrun.bootstrap.http"),
    ("bootstrap", "qrun.bootstrap"),
)
ENTRY_POINTS = ("cli", "http")
#: What each layer may import of qrun (its own layer always). `bootstrap` holds the app
#: (built of the use cases), the composition root, config, views and the test helpers.
MAY_IMPORT = {
    "core": set(),
    "contract": {"core", "adapters"},
    "adapters": {"core"},
    "runtime": {"core", "adapters"},
    "usecases": {"core", "adapters", "runtime", "bootstrap"},
    "daemon": {"core", "adapters", "runtime", "bootstrap"},
    "cli": {"core", "bootstrap"},
    "http": {"core", "bootstrap"},
    "bootstrap": {"core", "adapters", "runtime", "usecases", "daemon", "http", "contract"},
}
#: Of `bootstrap` itself, the modules an entry point may use: the app and its wiring,
#: config and views. Never the runtime loops or a store.
ENTRY_MAY_USE = {
    "qrun.bootstrap.app",
    "qrun.bootstrap.wiring",
    "qrun.bootstrap.config",
    "qrun.bootstrap.logs",  # how the process logs, set once at start
    "qrun.bootstrap.views",
    "qrun.bootstrap.refusals",  # how a refusal reads: exit codes, HTTP statuses
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    out: dict[str, Path] = {}
    for package, folder in mapping.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno


def graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {qrun module it imports: line}"""
    known = modules(root)
    out: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges: dict[str, int] = {}
        for imported, line in _imports(name, path, known):
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("qrun."):
                edges.setdefault(target, line)
        out[name] = edges
    return out


def layer(module: str) -> str:
    for name, prefix in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return name
    raise ValueError(f"{module} is in no layer")


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _store_reads(path: Path) -> Iterator[int]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            yield node.lineno


def breaks(root: Path = ROOT) -> list[str]:
    """Every broken rule, each naming the file and line."""
    edges, paths = graph(root), modules(root)
    out = [f"import circle: {' -> '.join(c)}" for c in cycles(edges)]
    for source, targets in sorted(edges.items()):
        mine = layer(source)
        rel = paths[source].relative_to(root)
        for target, line in sorted(targets.items()):
            theirs = layer(target)
            if theirs != mine and theirs not in MAY_IMPORT[mine]:
                out.append(f"{rel}:{line}: {mine} may not import {theirs} ({target})")
            if mine in ENTRY_POINTS and theirs == "bootstrap" and target not in ENTRY_MAY_USE:
                out.append(f"{rel}:{line}: an entry point goes through the app, not {target}")
        if mine in ENTRY_POINTS:
            out += [
                f"{rel}:{line}: an entry point reads no store (use a use case)"
                for line in _store_reads(paths[source])
            ]
    return out


def main(argv: list[str]) -> int:
    edges = graph()
    if "--dot" in argv:
        print("digraph qrun {")
        for source, targets in sorted(edges.items()):
            for target in sorted(targets):
                print(f'  "{source}" -> "{target}";')
        print("}")
        return 0
    if "--layers" in argv:
        counts = Counter((layer(s), layer(t)) for s, ts in edges.items() for t in ts)
        for (a, b), n in sorted(counts.items()):
            print(f"{a:10} -> {b:10} {n}")
        return 0
    found = breaks()
    for line in found:
        print(line)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, {len(found)} broken rule(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

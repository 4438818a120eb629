"""How many small deliberate bugs do the tests catch? A repeatable mutation run.

    .venv/bin/python scripts/mutation.py core/decide.py tests/unit/core
    .venv/bin/python scripts/mutation.py adapters/memory/store.py \
        tests/contract/test_memory_store.py --sample 80

It copies the working tree (tracked files, as they are now) to a scratch folder, so your
checkout is never touched, lets cosmic-ray list every mutant of MODULE, leaves out those
that only touch type annotations and those judged equivalent in
scripts/mutation-equivalent.txt, draws a random sample (`--sample`, `--seed`), runs the
given tests against each mutant (`-x`: the first failure kills it), and prints the kill
rate with its 95% interval and every survivor as a diff.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "scripts" / "mutation-equivalent.txt"
COSMIC_RAY = str(Path(sys.executable).with_name("cosmic-ray"))


def main() -> int:
    args = _parse()
    scratch = Path(tempfile.mkdtemp(prefix="qrun-mutation-"))
    try:
        _copy_tree(scratch)
        config = _config(scratch, args)
        subprocess.run([COSMIC_RAY, "init", str(config), "session.sqlite"], cwd=scratch, check=True)
        picked, total, typed, equivalent = _sample(scratch, args)
        print(
            f"{args.module}: {total} mutants; {typed} only touch annotations, {equivalent} judged "
            f"equivalent; running {picked} of the rest (seed {args.seed})",
            flush=True,
        )
        subprocess.run([COSMIC_RAY, "exec", str(config), "session.sqlite"], cwd=scratch, check=True)
        return _report(scratch, args)
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("module", help="the file to mutate, e.g. core/decide.py")
    p.add_argument("tests", nargs="+", help="what pytest runs against each mutant")
    p.add_argument("--sample", type=int, default=100, help="mutants to run (0: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return p.parse_args()


def _copy_tree(scratch: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src, dst = ROOT / name.decode(), scratch / name.decode()
        if src.is_symlink():  # qrun/'s links, relative: they name the scratch copy's folders
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(os.readlink(src))
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def _config(scratch: Path, args: argparse.Namespace) -> Path:
    tests = " ".join(args.tests)
    command = (
        f"env PYTHONPATH={scratch} {sys.executable} -m pytest -x -q "
        f"-p no:cacheprovider -p no:randomly {tests}"
    )
    config = scratch / "mutation.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{args.module}"\n'
        f"timeout = {args.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    return config


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        notes = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            notes.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            notes.append(node.returns)
        for n in notes:
            spans.append(((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)))
    return spans


def _equivalents(module: str) -> set[tuple[int, str]]:
    """(line, operator) pairs listed as equivalent for `module`."""
    found = set()
    if EQUIVALENT.exists():
        for raw in EQUIVALENT.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            where, operator = line.split()[:2]
            path, _, number = where.rpartition(":")
            if path == module:
                found.add((int(number), operator))
    return found


def _sample(scratch: Path, args: argparse.Namespace) -> tuple[int, int, int, int]:
    source = (scratch / args.module).read_text()
    spans = _annotation_spans(source)
    equivalent = _equivalents(args.module)
    with use_db(str(scratch / "session.sqlite"), WorkDB.Mode.open) as db:
        items = list(db.work_items)
        typed, judged, candidates = [], [], []
        for item in items:
            (m,) = item.mutations
            if any(start <= m.start_pos < end for start, end in spans):
                typed.append(item)
            elif (m.start_pos[0], m.operator_name) in equivalent:
                judged.append(item)
            else:
                candidates.append(item)
        rng = random.Random(args.seed)
        chosen = candidates if args.sample <= 0 else rng.sample(candidates, min(args.sample, len(candidates)))
        keep = {i.job_id for i in chosen}
        for item in items:
            if item.job_id not in keep:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    return len(chosen), len(items), len(typed), len(judged)


def _report(scratch: Path, args: argparse.Namespace) -> int:
    killed = survived = incompetent = 0
    survivors = []
    with use_db(str(scratch / "session.sqlite"), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                continue
            (m,) = item.mutations
            if result.test_outcome is TestOutcome.KILLED:
                killed += 1
            elif result.test_outcome is TestOutcome.INCOMPETENT:
                incompetent += 1
            else:
                survived += 1
                survivors.append((m.start_pos[0], m.operator_name, result.diff or ""))
    n = killed + survived
    rate = killed / n if n else 0.0
    low, high = _wilson(killed, n)
    print(f"\n{args.module} under {' '.join(args.tests)}")
    print(
        f"killed {killed} of {n} ({rate:.1%}; 95% interval {low:.1%} to {high:.1%}); "
        f"{incompetent} incompetent (did not run) left out"
    )
    for line, operator, diff in sorted(survivors):
        print(f"\nSURVIVED {args.module}:{line} {operator}\n{diff.strip()}")
    return 0


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


if __name__ == "__main__":
    sys.exit(main())

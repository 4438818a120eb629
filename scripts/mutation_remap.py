"""Carry scripts/mutation-equivalent.txt over edits: its entries name lines, and an edit
above a line moves it. Each entry's line, as it read at BASE (a commit), is followed to
where the same line stands in the working tree (difflib's matching blocks). An entry
whose line was changed or removed is printed, and dropped: judge that mutant again.

    .venv/bin/python scripts/mutation_remap.py BASE
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "scripts" / "mutation-equivalent.txt"
ENTRY = re.compile(r"^(?P<module>[^:\s]+):(?P<line>\d+)(?P<rest>\s.*)$")


def line_map(base: str, module: str) -> dict[int, int]:
    old = subprocess.run(
        ["git", "show", f"{base}:{module}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    new = (ROOT / module).read_text().splitlines()
    moved: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks():
        for i in range(block.size):
            moved[block.a + i + 1] = block.b + i + 1
    return moved


def main() -> int:
    base = sys.argv[1]
    maps: dict[str, dict[int, int]] = {}
    out, dropped = [], []
    for text in EQUIVALENT.read_text().splitlines():
        m = ENTRY.match(text)
        if not m:
            out.append(text)
            continue
        module = m["module"]
        if module not in maps:
            maps[module] = line_map(base, module)
        line = maps[module].get(int(m["line"]))
        if line is None:
            dropped.append(text)
        else:
            out.append(f"{module}:{line}{m['rest']}")
    EQUIVALENT.write_text("\n".join(out) + "\n")
    for text in dropped:
        print(f"dropped (its line changed): {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

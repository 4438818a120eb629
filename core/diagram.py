"""The transition table rendered for the docs, so they cannot drift from the code: which
events each status accepts (a table), and where each leads (a state diagram, Mermaid)."""

from __future__ import annotations

from collections import defaultdict

from .decide import TABLE
from .job import Status


def markdown_table() -> str:
    lines = ["| status | events it accepts (anything else is a Rejection) |", "|---|---|"]
    for status, handlers in TABLE.items():
        lines.append(f"| `{status.value}` | {', '.join(sorted(t.__name__ for t in handlers))} |")
    return "\n".join(lines)


def state_diagram() -> str:
    """A Mermaid `stateDiagram-v2`: one arrow per (from, to), labelled with the events
    that can take it there. `Sanitize` (healing an impossible row) and the events that
    keep a running job running (heartbeats, stamps) are left out: they would hide the rest."""
    arrows: dict[tuple[Status, Status], list[str]] = defaultdict(list)
    for status, rules in TABLE.items():
        for event, rule in rules.items():
            if event.__name__ == "Sanitize":
                continue
            for to in sorted(rule.to, key=list(Status).index):
                if to is status:
                    continue
                arrows[(status, to)].append(event.__name__)
    lines = ["stateDiagram-v2", "    [*] --> queued: submit"]
    order = list(Status).index
    for (a, b), events in sorted(arrows.items(), key=lambda kv: (order(kv[0][0]), order(kv[0][1]))):
        lines.append(f"    {a.value} --> {b.value}: {', '.join(sorted(events))}")
    lines.extend(f"    {s.value} --> [*]" for s in (Status.DONE, Status.FAILED, Status.CANCELLED))
    return "\n".join(lines)

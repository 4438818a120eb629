"""The transition table rendered for the docs, so they cannot drift from the code."""

from __future__ import annotations

from .decide import TABLE


def markdown_table() -> str:
    lines = ["| status | events it accepts (anything else is a Rejection) |", "|---|---|"]
    for status, handlers in TABLE.items():
        lines.append(f"| `{status.value}` | {', '.join(sorted(t.__name__ for t in handlers))} |")
    return "\n".join(lines)

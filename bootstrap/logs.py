"""One log format for the daemon: structlog renders every line, its own events and the
standard library's alike; for people at a terminal, JSON lines for everything else."""

from __future__ import annotations

import logging
import sys

import structlog

from qrun.adapters.redact import mask


class _Masked(structlog.stdlib.ProcessorFormatter):
    """Every line masked on its way out (R-I2), whoever wrote it: a library's message or a
    traceback may hold a database URL with its password."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def configure(*, as_json: bool | None = None, level: int = logging.INFO) -> None:
    """`as_json`: None picks by whether stderr is a terminal."""
    if as_json is None:
        as_json = not sys.stderr.isatty()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _Masked(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

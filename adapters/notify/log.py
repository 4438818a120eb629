"""Notifications as structured log events (structlog): one event per note, alerts at error."""

from __future__ import annotations

from typing import Any

import structlog
from qrun.core import Notify


class LogNotifier:
    def __init__(self, logger: Any = None) -> None:
        self._log = logger or structlog.get_logger("qrun")

    def notify(self, note: Notify) -> None:
        emit = self._log.error if note.alert else self._log.info
        emit(note.topic, job_id=note.job_id, message=note.message, alert=note.alert, detail=note.detail)

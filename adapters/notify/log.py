"""Notifications as structured log events (structlog): one event per note, alerts at error."""

from __future__ import annotations

from typing import Any

import structlog

from qrun.core import Notify


class LogNotifier:
    """`done`: whether a job that succeeded gets a line too. Off in the daemon by default
    (`log_done`): at thousands of jobs a second the lines cost more than the jobs, and a
    failure, a cancellation or an alert is always logged."""

    def __init__(self, logger: Any = None, *, done: bool = True) -> None:
        self._log = logger or structlog.get_logger("qrun")
        self._done = done

    def notify(self, note: Notify) -> None:
        if note.topic == "done" and not self._done:
            return
        emit = self._log.error if note.alert else self._log.info
        emit(note.topic, job_id=note.job_id, message=note.message, alert=note.alert, detail=note.detail)

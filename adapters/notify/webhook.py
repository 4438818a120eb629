"""Notifications POSTed as JSON to a URL. A notification is best-effort: a webhook that
is down is logged and never fails the job or stops the worker."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from qrun.core import Notify
from qrun.core.errors import InvalidInput

from ..redact import mask

log = logging.getLogger("qrun.webhook")


class WebhookNotifier:
    def __init__(self, url: str, *, timeout_s: float = 5.0, alerts_only: bool = False) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"webhook url must start with http:// or https://, got {url!r}")
        self.url, self.timeout_s, self.alerts_only = url, timeout_s, alerts_only

    def notify(self, note: Notify) -> None:
        if self.alerts_only and not note.alert:
            return
        body = json.dumps(
            {
                "job_id": note.job_id,
                "topic": note.topic,
                "message": note.message,
                "alert": note.alert,
                "detail": note.detail,
            }
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("webhook %s failed for job %s: %s", mask(self.url), note.job_id, exc)

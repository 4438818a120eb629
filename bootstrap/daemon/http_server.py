"""The HTTP API's server, in a thread of the daemon."""

from __future__ import annotations

import threading
from typing import Any


class HttpServer:
    def __init__(self, api: Any, host: str, port: int) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(api, host=host, port=port, log_level="warning"))

    def start(self) -> None:
        threading.Thread(target=self._server.run, name="qrun-http", daemon=True).start()

    def stop(self) -> None:
        self._server.should_exit = True

"""The HTTP API's server, in a thread of the daemon. Its socket is bound before the
daemon starts work, so a port in use stops the daemon with a clear error instead of
leaving it running without its API."""

from __future__ import annotations

import socket
import threading
from typing import Any

from qrun.core.errors import QrunError


class PortTaken(QrunError):
    """The HTTP API's address is in use (or not ours to bind)."""


class HttpServer:
    def __init__(self, api: Any, host: str, port: int) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as exc:
            self._socket.close()
            raise PortTaken(
                f"cannot serve the HTTP API on {host}:{port}: {exc.strerror}; another process has it. "
                "Set QRUN_HTTP_PORT to a free port, or 0 for no HTTP API"
            ) from None
        self._server = uvicorn.Server(uvicorn.Config(api, log_level="warning"))

    def start(self) -> None:
        threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="qrun-http", daemon=True
        ).start()

    def stop(self) -> None:
        self._server.should_exit = True

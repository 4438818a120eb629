"""Dashboard sessions of their own (R-I3): signing in with the API token gives a signed,
expiring session; the token itself never reaches the browser, so a leaked cookie is one
session until it expires or signs out, never the API's secret.

A session cookie is `payload.signature`: the payload names a random session id and its
expiry, the signature is an HMAC-SHA256 under a key derived from the API token. Every
daemon sharing the token reads every other's sessions (a load balancer may send each
request elsewhere), and changing the token ends them all. Each session has a CSRF token,
an HMAC of its id, that every form it is shown carries back.

Signing out ends the session where it was signed out: the daemon keeps the ids signed
out until they would have expired anyway. Another daemon behind the same balancer still
takes that cookie until it expires; the browser no longer holds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable

import attrs

COOKIE = "qrun_session"
_KEY_LABEL = b"qrun dashboard sessions v1"


@attrs.frozen
class Session:
    id: str
    expires: float
    csrf: str


class Sessions:
    def __init__(self, token: str, *, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(token.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        self._ended: dict[str, float] = {}  # signed-out id -> when it would have expired
        self._lock = threading.Lock()

    def start(self) -> tuple[str, Session]:
        """A new session: the cookie's value, and the session it names."""
        sid = secrets.token_urlsafe(24)
        expires = round(self._clock() + self.ttl_s, 3)
        payload = _b64(json.dumps({"sid": sid, "exp": expires}, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", self._session(sid, expires)

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie names, or None: unsigned, forged, expired or signed out."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            sid, expires = str(data["sid"]), float(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= self._clock():
            return None
        with self._lock:
            if sid in self._ended:
                return None
        return self._session(sid, expires)

    def end(self, session: Session) -> None:
        now = self._clock()
        with self._lock:
            self._ended = {s: t for s, t in self._ended.items() if t > now}
            self._ended[session.id] = session.expires

    def _session(self, sid: str, expires: float) -> Session:
        csrf = hmac.new(self._key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()
        return Session(sid, expires, csrf)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

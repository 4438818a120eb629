"""Configuration: one attrs class, from an optional TOML file and QRUN_* environment
variables (the environment wins), structured and validated by cattrs at the edge."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs


class ConfigError(ValueError):
    """The configuration is wrong; the message names the setting and how to fix it."""


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Config:
    database_url: str = "./qrun.db"  # a SQLite file path, or postgresql://...
    schema: str = "qrun"  # PostgreSQL schema (or SQLite table prefix "<schema>_")
    runs_dir: str = "./.qrun/runs"
    inputs_dir: str = "./.qrun/inputs"
    webhook_url: str | None = None  # notifications are also POSTed here as JSON
    state_dir: str = "./.qrun/state"
    worker_name: str = "worker"
    slots: int = attrs.field(default=4, validator=_positive)
    lease_s: float = attrs.field(default=30.0, validator=_positive)
    poll_s: float = attrs.field(default=1.0, validator=_positive)
    drain_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    reaper_interval_s: float = attrs.field(default=10.0, validator=_positive)
    reaper_enabled: bool = True
    sanitizer_enabled: bool = True
    dead_ticks: int = attrs.field(default=2, validator=_positive)
    finalize_grace_s: float = 300.0
    max_running_s: float = attrs.field(default=24 * 3600.0, validator=_positive)
    queues: tuple[str, ...] | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8765  # 0: no HTTP API
    api_token: str | None = None  # required for POST /jobs, /cancel, /retry

    @property
    def worst_case_recovery_s(self) -> float:
        """R-G8: the longest a dead worker's job waits before another worker adopts it.
        The dead worker's lease ends at most `lease_s` after its last renewal; the reaper's
        next tick, at most `reaper_interval_s` later, clears it; a worker's next claim, at
        most `poll_s` later, adopts it. (A worker restarted under the same name recovers
        its predecessor's jobs at start-up, at once.)"""
        return self.lease_s + self.reaper_interval_s + self.poll_s

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(bool, lambda v, _: _to_bool(v))
_converter.register_structure_hook(
    tuple[str, ...] | None,
    lambda v, _: None if v in (None, "") else tuple(v.split(",") if isinstance(v, str) else v),
)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def load(
    file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Config:
    """The configuration from `file` (TOML, optional; else $QRUN_CONFIG if set), then
    QRUN_<SETTING> environment variables, then `overrides` (e.g. CLI flags)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = file or env.get("QRUN_CONFIG")
    if path:
        try:
            raw.update(tomllib.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    names = {f.name for f in attrs.fields(Config)}
    for key, value in env.items():
        if key.startswith("QRUN_") and key != "QRUN_CONFIG" and not key.startswith("QRUN_TEST_"):
            name = key[5:].lower()
            if name not in names:
                raise ConfigError(
                    f"unknown setting {key}; known: {', '.join('QRUN_' + n.upper() for n in sorted(names))}"
                )
            raw[name] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return _converter.structure(raw, Config)
    except cattrs.ClassValidationError as exc:
        raise ConfigError("invalid configuration: " + "; ".join(_messages(exc))) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _messages(exc: BaseException) -> list[str]:
    """One line per problem, each naming its setting (cattrs groups them)."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [f"unknown setting(s) {', '.join(sorted(exc.extra_fields))}"]
    if isinstance(exc, BaseExceptionGroup):
        return [m for sub in exc.exceptions for m in _messages(sub)]
    notes = [n for n in getattr(exc, "__notes__", []) if "@ attribute " in n]
    name = notes[0].rsplit("@ attribute ", 1)[1] if notes else None
    return [f"{name}: {exc}" if name else str(exc)]

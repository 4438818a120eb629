"""What a setting may hold, and the name a user knows it by."""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from qrun.core.errors import InvalidInput


class ConfigError(InvalidInput):
    """The configuration is wrong; the message names the setting and how to fix it."""


def setting(*, flat: str | None = None, **kw: Any) -> Any:
    """An attrs field of a section; `flat` is the setting's own name (`QRUN_<FLAT>`, the
    file's top-level key) where it is not the field's."""
    metadata = {"flat": flat} if flat else {}
    return attrs.field(metadata=metadata, **kw)


def flat_name(attribute: attrs.Attribute[Any]) -> str:
    return str(attribute.metadata.get("flat", attribute.name))


def positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{flat_name(attribute)} must be > 0, got {value!r}")


def not_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{flat_name(attribute)} must be >= 0, got {value!r}")


def synchronous(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("FULL", "NORMAL"):
        raise ConfigError(
            f"{flat_name(attribute)} must be FULL (every commit synced: survives a power loss) or "
            f"NORMAL (synced at checkpoints: faster), got {value!r}"
        )


def daemon_name(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or "@" in value or any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(
            f"{flat_name(attribute)} {value!r} is not a daemon name: use printable characters, "
            "no spaces and no '@'"
        )


def port(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not 0 <= value <= 65535:
        raise ConfigError(
            f"{flat_name(attribute)} must be a TCP port 1-65535 (0: no HTTP API), got {value!r}"
        )


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def one_of(*choices: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise ConfigError(f"{flat_name(attribute)} must be one of {', '.join(choices)}, got {value!r}")

    return check

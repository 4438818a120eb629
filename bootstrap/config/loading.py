"""Reading the configuration: a TOML file, then QRUN_* variables, then overrides, each
setting by its flat name, structured and validated by cattrs."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs

from .checks import ConfigError, flat_name
from .sections import SECTIONS, Config
from .tables import PoolConfig, ScheduleConfig

_TOP = ("app", "pools")


def _names() -> dict[str, tuple[str | None, str]]:
    out: dict[str, tuple[str | None, str]] = {name: (None, name) for name in _TOP}
    for section, cls in SECTIONS.items():
        for field in attrs.fields(cls):
            out[flat_name(field)] = (section, field.name)
    return out


#: Every setting's flat name -> (its section, or None at the top; its field there).
WHERE = _names()


def setting_names() -> list[str]:
    """Every setting's flat name; its variable is QRUN_<NAME upper-cased>."""
    return sorted(WHERE)


def _unknown(name: str, variable: bool) -> ConfigError:
    def shown(n: str) -> str:
        return f"QRUN_{n.upper()}" if variable else n

    known = ", ".join(shown(n) for n in setting_names())
    return ConfigError(f"unknown setting {shown(name)}; known: {known}")


def _from_file(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The file's settings by flat name: top-level keys, or `[SECTION]` tables of a
    section's fields (`[http]` / `port = 8080` is `http_port = 8080`)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, Mapping):
            fields = {f.name: flat_name(f) for f in attrs.fields(SECTIONS[key])}
            for name, inner in value.items():
                flat = fields.get(name) or (name if name in fields.values() else None)
                if flat is None:
                    raise ConfigError(
                        f"unknown setting {name!r} in [{key}]; known there: {', '.join(sorted(fields))}"
                    )
                if flat in out:
                    raise ConfigError(f"{flat} is set twice in the config file; keep one")
                out[flat] = inner
        elif key in WHERE:
            if key in out:
                raise ConfigError(f"{key} is set twice in the config file; keep one")
            out[key] = value
        else:
            raise _unknown(key, variable=False)
    return out


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in flat.items():
        section, field = WHERE[name]
        if section is None:
            out[field] = value
        else:
            out.setdefault(section, {})[field] = value
    return out


def _tables(value: Any, section: str, cls: type[Any]) -> dict[str, Any]:
    """[SECTION.NAME] tables, or QRUN_<SECTION> as a JSON object of them."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{section} must be a JSON object of name -> table: {exc}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{section} must be tables [{section}.NAME], got {value!r}")
    out: dict[str, Any] = {}
    for name, spec in value.items():
        try:
            out[name] = _converter.structure(spec, cls)
        except Exception as exc:  # each message names the table it is about
            raise ConfigError(f"{section}.{name}: {'; '.join(_messages(exc, cls))}") from None
    return out


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(bool, lambda v, _: _to_bool(v))
_converter.register_structure_hook_func(
    lambda t: t == dict[str, ScheduleConfig], lambda v, _: _tables(v, "schedules", ScheduleConfig)
)
_converter.register_structure_hook_func(
    lambda t: t == dict[str, PoolConfig], lambda v, _: _tables(v, "pools", PoolConfig)
)
_converter.register_structure_hook(
    tuple[str, ...] | None,
    lambda v, _: None if v in (None, "") else tuple(v.split(",") if isinstance(v, str) else v),
)


def load(
    file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Config:
    """The configuration from `file` (TOML, optional; else $QRUN_CONFIG if set), then
    QRUN_<SETTING> environment variables, then `overrides` (e.g. CLI flags), each setting
    by its flat name (`slots=4`, `http_port=0`)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = file or env.get("QRUN_CONFIG")
    if path:
        raw.update(_from_file(_read(Path(path))))
    for key, value in env.items():
        if key.startswith("QRUN_") and key != "QRUN_CONFIG" and not key.startswith("QRUN_TEST_"):
            name = key[5:].lower()
            if name not in WHERE:
                raise _unknown(name, variable=True)
            raw[name] = value
    for name, value in overrides.items():
        if name not in WHERE:
            raise _unknown(name, variable=False)
        if value is not None:
            raw[name] = value
    try:
        return _converter.structure(_nested(raw), Config)
    except cattrs.ClassValidationError as exc:
        raise ConfigError("invalid configuration: " + "; ".join(_messages(exc, Config))) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def of(**settings: Any) -> Config:
    """A configuration of these settings alone (by flat name), no file and no environment."""
    return load(env={}, **settings)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder; give the path of a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _messages(exc: BaseException, cls: type[Any]) -> list[str]:
    """One line per problem, each naming its setting by its flat name (cattrs groups
    them by class and attribute)."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [f"unknown setting(s) {', '.join(sorted(exc.extra_fields))}"]
    if isinstance(exc, cattrs.ClassValidationError):
        return [m for sub in exc.exceptions for m in _messages(sub, exc.cl)]
    if isinstance(exc, BaseExceptionGroup):
        return [m for sub in exc.exceptions for m in _messages(sub, cls)]
    notes = [n for n in getattr(exc, "__notes__", []) if "@ attribute " in n]
    name = notes[0].rsplit("@ attribute ", 1)[1] if notes else None
    fields = attrs.fields_dict(cls) if attrs.has(cls) else {}
    if name is None or (cls is Config and name in SECTIONS):
        return [str(exc)]  # a section's own check names its settings
    if name in fields:
        name = flat_name(fields[name])
    text = str(exc)
    return [text if text.startswith(name) else f"{name}: {text}"]

"""Schema versions: a store runs only against the version it was written for."""

from __future__ import annotations

from qrun.core.ports import SchemaVersionError


def check_version(found: int | None, known: int, where: str, how_to_migrate: str) -> None:
    if found is None:
        raise SchemaVersionError(f"no qrun schema in {where}; create it with {how_to_migrate}")
    if found > known:
        raise SchemaVersionError(
            f"the schema in {where} is version {found}, newer than version {known} that this qrun "
            "knows; upgrade qrun on this host (never run older code against a newer schema)"
        )
    if found < known:
        raise SchemaVersionError(
            f"the schema in {where} is version {found}, older than version {known} that this qrun "
            f"needs; apply the migrations with {how_to_migrate}"
        )

"""Every package folder ships in the wheel: pyproject lists packages explicitly."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "qrun." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("core", "adapters", "bootstrap", "contract")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"

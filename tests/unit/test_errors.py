"""One root for every error qrun raises on purpose (`qrun.core.QrunError`)."""

import importlib
import inspect
import pkgutil

import pytest

import qrun
from qrun.core import QrunError

PACKAGES = ["qrun.core", "qrun.adapters", "qrun.bootstrap", "qrun.contract"]


def qrun_modules():
    for name in PACKAGES:
        package = importlib.import_module(name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            if info.name.endswith("__main__"):
                continue
            yield importlib.import_module(info.name)


def public_errors():
    found = {}
    for module in qrun_modules():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_the_walk_finds_the_errors_it_should():
    found = public_errors()
    assert "qrun.core.ports.StoreError" in found and "qrun.bootstrap.config.ConfigError" in found
    assert len(found) >= 15


@pytest.mark.parametrize("where", sorted(public_errors()))
def test_every_public_error_derives_from_qrun_error(where):
    assert issubclass(public_errors()[where], QrunError), f"{where} is not a QrunError"


def test_qrun_is_one_namespace():
    assert {m.__name__ for m in qrun_modules()} >= set(PACKAGES)
    assert qrun.__name__ == "qrun"

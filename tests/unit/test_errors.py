"""One root for every error qrun raises on purpose (`qrun.core.QrunError`)."""

import importlib
import inspect
import pkgutil

import pytest

import qrun
import qrun.core
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
    assert (
        "qrun.core.store_errors.StoreError" in found and "qrun.bootstrap.config.checks.ConfigError" in found
    )
    assert len(found) >= 15


@pytest.mark.parametrize("where", sorted(public_errors()))
def test_every_public_error_derives_from_qrun_error(where):
    assert issubclass(public_errors()[where], QrunError), f"{where} is not a QrunError"


def test_qrun_is_one_namespace():
    assert {m.__name__ for m in qrun_modules()} >= set(PACKAGES)
    assert qrun.__name__ == "qrun"


#: Python's own kinds, which say nothing of what qrun refused: raise a `core.errors`
#: kind (or a subclass named for what went wrong) instead. Contract code is test code.
BARE = {"ValueError", "TypeError", "RuntimeError", "LookupError", "KeyError", "IndexError", "Exception"}
SOURCES = ["core", "adapters", "bootstrap"]


def bare_in(source, name="<text>"):
    """The lines of `source` that raise one of BARE."""
    import ast

    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(raised, ast.Name) and raised.id in BARE:
                yield f"{name}:{node.lineno} raise {raised.id}"


def bare_raises():
    from pathlib import Path

    root = Path(qrun.core.__file__).resolve().parent.parent  # qrun.* maps onto the project's folders
    files = [p for folder in SOURCES for p in sorted((root / folder).rglob("*.py"))]
    assert len(files) > 100, f"the walk found only {len(files)} files under {root}"
    for path in files:
        yield from bare_in(path.read_text(), str(path.relative_to(root)))


def test_the_walk_finds_a_bare_raise_and_passes_a_named_one():
    planted = "def f(x):\n    if x:\n        raise ValueError(x)\n    raise NotFound(x)\n"
    assert list(bare_in(planted)) == ["<text>:3 raise ValueError"]
    assert list(bare_in("try:\n    pass\nexcept Exception:\n    raise\n")) == []


def test_nothing_qrun_raises_on_purpose_is_a_bare_python_error():
    found = list(bare_raises())
    assert found == [], "raise a qrun.core.errors kind instead:\n" + "\n".join(found)


def test_each_door_maps_every_refusal():
    from qrun.bootstrap.refusals import exit_code, http_status
    from qrun.core import errors
    from qrun.core.ports import DuplicateJob, StoreUnreachable

    assert http_status(errors.NotFound("no job x")) == 404
    assert http_status(errors.InvalidInput("bad")) == 422
    assert http_status(DuplicateJob("dup")) == 409
    assert http_status(StoreUnreachable("down")) == 503
    for where, kind in public_errors().items():
        if issubclass(kind, QrunError):
            error = kind.__new__(kind)
            assert http_status(error) in (404, 409, 422, 501, 503), where
            assert exit_code(error) in (1, 124), where

"""The layers keep their rules (scripts/imports.py): no import circles; core imports
nothing of qrun's outside core; adapters import no use case, runtime loop or entry point;
entry points (CLI, HTTP) go through the app's use cases and read no store."""

import importlib.util
import textwrap
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "imports", Path(__file__).parents[2] / "scripts" / "imports.py"
)
imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(imports)


def test_qrun_keeps_every_layer_rule():
    assert imports.breaks() == []


def test_the_graph_sees_qrun_through_the_package_mapping():
    edges = imports.graph()
    assert "qrun.core.decide" in edges and "qrun.bootstrap.cli.main" in edges
    assert "qrun.core.job" in edges["qrun.core.decide"]
    assert "qrun.bootstrap.cli.batches" in edges["qrun.bootstrap.cli.main"]  # from . import batches


def test_qrun_names_every_mapped_folder_for_the_tools_that_read_files():
    """qrun/ holds one relative link per `package-dir` entry, to the folder it maps, and
    nothing else: what mypy and editors open for `qrun.*` is the code itself."""
    import tomllib

    root = Path(__file__).parents[2]
    mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    links = {p.name: p for p in (root / "qrun").iterdir()}
    assert set(links) == {name.removeprefix("qrun.") for name in mapping}
    for name, folder in mapping.items():
        link = links[name.removeprefix("qrun.")]
        assert link.is_symlink() and not Path(link.readlink()).is_absolute()
        assert link.resolve() == (root / folder).resolve()


def _tree(tmp_path, files):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"qrun.core" = "core"\n"qrun.adapters" = "adapters"\n'
        '"qrun.bootstrap" = "bootstrap"\n'
    )
    for name, text in {
        "core/__init__.py": "",
        "adapters/__init__.py": "",
        "bootstrap/__init__.py": "",
        **files,
    }.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize(
    ("files", "broken"),
    [
        (
            {
                "bootstrap/cli/__init__.py": "",
                "bootstrap/cli/a.py": "from . import b\n",
                "bootstrap/cli/b.py": "from .a import x\n",
            },
            "import circle: qrun.bootstrap.cli.a -> qrun.bootstrap.cli.b",
        ),
        (
            {"core/job.py": "from qrun.adapters import ids\n", "adapters/ids.py": ""},
            "core may not import adapters",
        ),
        (
            {
                "adapters/x.py": "def f():\n    from qrun.bootstrap.usecases.jobs import JobCases\n",
                "bootstrap/usecases/__init__.py": "",
                "bootstrap/usecases/jobs.py": "",
            },
            "adapters may not import usecases",
        ),
        (
            {
                "bootstrap/http/__init__.py": "",
                "bootstrap/http/jobs.py": "from ..runtime.worker import Worker\n",
                "bootstrap/runtime/__init__.py": "",
                "bootstrap/runtime/worker.py": "",
            },
            "http may not import runtime",
        ),
        (
            {
                "bootstrap/cli/__init__.py": "",
                "bootstrap/cli/jobs.py": "def ls(app):\n    return app.store.list()\n",
            },
            "an entry point reads no store",
        ),
        (
            {
                "bootstrap/cli/__init__.py": "",
                "bootstrap/cli/jobs.py": "from qrun.bootstrap.doctor import examine\n",
                "bootstrap/doctor.py": "",
            },
            "an entry point goes through the app, not qrun.bootstrap.doctor",
        ),
    ],
)
def test_each_rule_names_the_break(tmp_path, files, broken):
    found = imports.breaks(_tree(tmp_path, files))
    assert any(broken in line for line in found), found

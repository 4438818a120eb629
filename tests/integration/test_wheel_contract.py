"""The contract suite ships in the wheel: a fresh environment with only the wheel
installed runs it against a store defined outside the repository."""

import pathlib
import subprocess
import sys
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_third_party_store_runs_the_contract_from_an_installed_wheel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("qrun-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", f"{wheel}[contract]"], check=True, capture_output=True)
    outside = tmp_path / "their_project"
    outside.mkdir()
    test_file = outside / "test_their_store.py"
    test_file.write_text((ROOT / "tests/contract/test_third_party_store.py").read_text())
    run = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=outside,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
    # It really ran from the wheel, not from this checkout.
    where = subprocess.run(
        [py, "-c", "import qrun.contract; print(qrun.contract.__file__)"],
        cwd=outside,  # from this checkout's root, `python -c` would import its qrun/ folder
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(env_dir) in where.stdout
    # The dashboard's templates ship with it: every one loads and compiles from the wheel.
    pages = sorted(p.name for p in (ROOT / "bootstrap/http/dashboard/templates").glob("*.html"))
    loaded = subprocess.run(
        [
            py,
            "-c",
            "from qrun.bootstrap.http.dashboard.render import ENV\n"
            "names = sorted(ENV.list_templates(extensions=['html']))\n"
            "[ENV.get_template(n) for n in names]\n"
            "print(' '.join(names))",
        ],
        cwd=outside,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.stdout.split() == pages, loaded.stderr[-3000:]

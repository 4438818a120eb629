"""Suite-wide settings: hypothesis profiles and CI's rule that a skip is a failure."""

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped and os.environ.get("QRUN_TEST_FAIL_ON_SKIP"):
        terminalreporter.section("skips are failures here (QRUN_TEST_FAIL_ON_SKIP)", sep="!", red=True)
        for report in skipped:
            terminalreporter.line(f"SKIPPED {report.nodeid}: {report.longrepr}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and reporter.stats.get("skipped") and os.environ.get("QRUN_TEST_FAIL_ON_SKIP"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server's URL, or a skip that says which routes were tried."""
    from postgres_server import postgres_url as find

    with contextlib.ExitStack() as stack:
        url, tried = stack.enter_context(find())
        if url is None:
            pytest.skip("no PostgreSQL server: tried " + "; ".join(tried))
        yield url


@pytest.fixture
def pg_schemas(postgres_url):
    """Makes uniquely named schemas for one test and drops them after it."""
    import psycopg

    made = []

    def make():
        name = f"t_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return name

    yield make
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory):
    """The base URL of a Docker engine with the busybox test image: the user's engine if
    one answers, else a private dockerd started for this session (CONTAINERS.md)."""
    pytest.importorskip("docker", reason="the docker SDK is missing: pip install -e '.[dev]'")
    from docker_engine import IMAGE, EngineUnavailable, PrivateEngine, answers, build_image

    if answers(None):  # DOCKER_HOST or the default socket: the user's engine
        build_image(None)
        yield None, IMAGE
        return
    engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="qrun-dockerd-", dir="/tmp")))
    try:
        engine.start()
    except EngineUnavailable as exc:
        pytest.skip(f"no Docker engine: DOCKER_HOST and the default socket do not answer, and {exc}")
    try:
        build_image(engine.base_url)
        yield engine.base_url, IMAGE
    finally:
        engine.stop()
        shutil.rmtree(engine.root, ignore_errors=True)

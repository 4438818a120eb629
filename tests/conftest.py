"""Suite-wide settings: hypothesis profiles and CI's rule that a skip is a failure."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped and os.environ.get("QRUN_FAIL_ON_SKIP"):
        terminalreporter.section("skips are failures here (QRUN_FAIL_ON_SKIP)", sep="!", red=True)
        for report in skipped:
            terminalreporter.line(f"SKIPPED {report.nodeid}: {report.longrepr}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and reporter.stats.get("skipped") and os.environ.get("QRUN_FAIL_ON_SKIP"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""R-H2: a start-up step waits out an outage, with a log line each time, and stands on
every other error; a bound ends the wait; a stop ends it at once."""

import logging
import threading

import pytest

from qrun.bootstrap.config import ConfigError
from qrun.bootstrap.daemon import startup
from qrun.bootstrap.daemon.startup import StartupAborted, until_up
from qrun.core.ports import NameTaken, StoreUnreachable


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(startup, "FIRST_PAUSE_S", 0.001)


def failing(times, error):
    calls = []

    def step():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "up"

    return step, calls


def test_an_outage_is_waited_out_and_said(caplog):
    step, calls = failing(3, StoreUnreachable("cannot connect to PostgreSQL at postgresql://u:pw@h/db"))
    with caplog.at_level(logging.WARNING, "qrun"):
        assert until_up(step, "recovering", wait_s=None) == "up"
    assert len(calls) == 4
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("waiting for the database: recovering failed" in m for m in lines)
    assert all("pw" not in m and "u:***@h" in m for m in lines)


@pytest.mark.parametrize("error", [ConfigError("bad"), NameTaken("held"), ValueError("a bug")])
def test_an_answer_is_not_retried(error):
    step, calls = failing(1, error)
    with pytest.raises(type(error)):
        until_up(step, "taking the name", wait_s=None)
    assert len(calls) == 1


def test_a_bound_ends_the_wait_with_the_last_error():
    now = [0.0]

    def clock():
        now[0] += 1.0
        return now[0]

    step, calls = failing(100, StoreUnreachable("down"))
    with pytest.raises(StoreUnreachable, match="down"):
        until_up(step, "opening", wait_s=5, clock=clock)
    assert 1 < len(calls) < 10


def test_a_stop_ends_the_wait():
    stop = threading.Event()
    stop.set()
    step, calls = failing(100, StoreUnreachable("down"))
    with pytest.raises(StartupAborted):
        until_up(step, "opening", wait_s=None, stop=stop)
    assert len(calls) == 1


def test_a_dropped_connection_of_the_driver_is_an_outage():
    import psycopg

    from qrun.adapters.outages import is_outage

    assert is_outage(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert not is_outage(psycopg.errors.UniqueViolation("a duplicate"))
    assert not is_outage(ValueError("no"))


def test_the_command_uses_the_apps_own_app_when_its_settings_are_the_commands(tmp_path, monkeypatch):
    """`qrun serve --app tasks:app`: the module's app itself, not a second one beside it;
    when the command's flags differ, a fresh app takes them and the module's store is closed."""
    import sys
    import textwrap

    from qrun.bootstrap.config import load
    from qrun.bootstrap.wiring import load_app

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for key in [k for k in __import__("os").environ if k.startswith("QRUN_")]:
        monkeypatch.delenv(key)
    (tmp_path / "lazy_tasks.py").write_text(
        textwrap.dedent(
            """
            from qrun.bootstrap.wiring import bootstrap

            app = bootstrap()
            closed = []
            app.store.close = lambda: closed.append(True)

            @app.task()
            def hello() -> str:
                return "hi"
            """
        )
    )
    sys.modules.pop("lazy_tasks", None)
    try:
        same = load_app("lazy_tasks:app", load(env={}, app="lazy_tasks:app"))
        import lazy_tasks

        assert same is lazy_tasks.app and not lazy_tasks.closed
        other = load_app("lazy_tasks:app", load(env={}, app="lazy_tasks:app", slots=3))
        assert other is not lazy_tasks.app and other.config.daemon.slots == 3
        assert "hello" in other.tasks.names() and lazy_tasks.closed == [True]
    finally:
        sys.modules.pop("lazy_tasks", None)

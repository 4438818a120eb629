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

"""The scheduler and the pruner on the memory store under a fake clock (R-F6, R-F3)."""

from datetime import timedelta

import pytest

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import ConfigError, load
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.testing import app_for_tests
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0
from qrun.core import Cancel, Status
from qrun.core.ports import JobFilter

EVERY_MINUTE = "* * * * *"


def make_app(tmp_path, store, clock, **settings):
    config = load(env={}, runs_dir=str(tmp_path / "runs"), **settings)
    return bootstrap(config, store=store, clock=clock)


def ids(store):
    return [j.id for j in store.list(JobFilter(limit=1000))]


def test_r_f6_each_slot_fires_once_however_many_daemons_tick(tmp_path):
    store, clock = MemoryStore(), FakeClock(T0 + timedelta(seconds=5))
    daemons = [make_app(tmp_path, store, clock) for _ in range(3)]
    for app in daemons:
        app.schedule("report", EVERY_MINUTE, "command", {"argv": ["make", "report"]})
    for _ in range(2):
        for app in daemons:
            app.scheduler.tick()
    assert ids(store) == ["cron-report-20300101T000000"]
    assert store.get("cron-report-20300101T000000").payload == {"argv": ["make", "report"]}
    clock.advance(60)
    for app in daemons:
        app.scheduler.tick()
    assert ids(store) == ["cron-report-20300101T000000", "cron-report-20300101T000100"]


def test_r_f6_a_finished_slot_does_not_fire_again_after_a_restart(tmp_path):
    store, clock = MemoryStore(), FakeClock(T0 + timedelta(seconds=5))
    first = make_app(tmp_path, store, clock)
    first.schedule("report", EVERY_MINUTE, "command", {"argv": ["true"]})
    (job_id,) = first.scheduler.tick()
    first.act(job_id, Cancel())
    restarted = make_app(tmp_path, store, clock)
    restarted.schedule("report", EVERY_MINUTE, "command", {"argv": ["true"]})
    assert restarted.scheduler.tick() == [job_id]  # the slot's key holds in every state
    assert ids(store) == [job_id] and store.get(job_id).status is Status.CANCELLED


def test_r_f6_after_downtime_only_the_latest_slot_fires_and_only_within_grace(tmp_path):
    """The stated policy for missed slots: earlier ones are skipped, never replayed in a
    burst; the latest fires if it is at most schedule_grace_s old."""
    store = MemoryStore()
    late = FakeClock(T0 + timedelta(hours=5, seconds=30))  # 05:00:30, slots 00:00..05:00 missed
    app = make_app(tmp_path, store, late, schedule_grace_s=60)
    app.schedule("hourly", "0 * * * *", "command", {"argv": ["true"]})
    assert app.scheduler.tick() == ["cron-hourly-20300101T050000"]
    too_late = FakeClock(T0 + timedelta(hours=6, minutes=2))  # 2 minutes after 06:00
    other = make_app(tmp_path, store, too_late, schedule_grace_s=60)
    other.schedule("hourly", "0 * * * *", "command", {"argv": ["true"]})
    assert other.scheduler.tick() == []
    assert ids(store) == ["cron-hourly-20300101T050000"]


def test_r_f6_schedules_from_the_configuration_and_their_errors(tmp_path):
    store, clock = MemoryStore(), FakeClock(T0)
    schedules = {"backup": {"cron": "0 3 * * *", "shell": "backup.sh", "queue": "ops", "priority": 5}}
    app = make_app(tmp_path, store, clock, schedules=schedules)
    (p,) = app.scheduler.schedules.values()
    assert (p.name, p.template.queue, p.template.priority, dict(p.template.payload)) == (
        "backup",
        "ops",
        5,
        {"shell": "backup.sh"},
    )
    with pytest.raises(ConfigError, match=r"schedules\.backup: .*not a cron expression"):
        load(env={}, schedules={"backup": {"cron": "every day", "shell": "x"}})
    with pytest.raises(ConfigError, match="exactly one of argv, shell or task"):
        load(env={}, schedules={"backup": {"cron": "0 3 * * *"}})
    with pytest.raises(ValueError, match="declared twice"):
        app.schedule("backup", "0 3 * * *", "command", {"argv": ["x"]})
    with pytest.raises(ValueError, match="argv"):
        app.schedule("broken", "0 3 * * *", "command", {})


def test_r_f3_the_pruner_deletes_past_retention_in_bounded_batches(tmp_path):
    store, clock = MemoryStore(), FakeClock(T0)
    app = make_app(tmp_path, store, clock, retention_cancelled_s=3600, prune_batch=2)
    job_ids = [app.submit("command", {"argv": ["true"]}) for _ in range(5)]
    for job_id in job_ids:
        app.act(job_id, Cancel())
    keep = app.submit("command", {"argv": ["true"]})
    clock.advance(3599)
    assert app.pruner.tick() == 0
    clock.advance(2)
    assert app.pruner.tick() == 5  # three batches of at most 2
    assert ids(store) == [keep] and app.pruner.pruned_total == 5


def test_r_f3_retention_of_zero_keeps_a_status_forever_and_must_outlive_the_schedule_grace():
    assert Status.DONE not in load(env={}, retention_done_s=0).retention.keep
    with pytest.raises(ConfigError, match=r"retention_failed_s .* must exceed schedule_grace_s"):
        load(env={}, retention_failed_s=10, schedule_grace_s=60)


@pytest.mark.parametrize("where", ["code", "config"])
def test_a_six_field_cron_is_refused_saying_how_to_write_seconds(where):
    # "*/10 * * * * *" is every 10 s in Quartz and Spring (seconds first), and every second
    # of every tenth minute in croniter (seconds last): qrun guesses neither.
    def declare():
        if where == "code":
            app_for_tests().schedule("tick", "*/10 * * * * *", "command", {"argv": ["true"]})
        else:
            load(env={}, schedules={"tick": {"cron": "*/10 * * * * *", "argv": ["true"]}})

    with pytest.raises((ValueError, ConfigError), match=r"has 6 field\(s\).*seconds='\*/10'") as refused:
        declare()
    assert "Quartz and Spring" in str(refused.value)


def test_seconds_given_apart_fire_several_slots_a_minute():
    clock = FakeClock(T0)
    app = app_for_tests(clock=clock)
    app.schedule("tick", "* * * * *", "command", {"argv": ["true"]}, seconds="*/10")
    (view,) = app.schedules()
    assert view["next"] == [f"2030-01-01T00:00:{s}+00:00" for s in ("10", "20", "30")]
    clock.advance(10)
    assert app.scheduler.tick() == ["cron-tick-20300101T000010"]

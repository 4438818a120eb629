"""The configuration in sections: one flat name per setting (QRUN_<NAME>, a top-level key
of the file), or a `[section]` table of the file; either way the same Config."""

import attrs
import pytest

from qrun.bootstrap.config import Config, ConfigError, load, of, setting_names
from qrun.bootstrap.config.loading import WHERE
from qrun.bootstrap.config.sections import SECTIONS


def write(tmp_path, text):
    path = tmp_path / "qrun.toml"
    path.write_text(text)
    return path


def test_every_setting_has_one_flat_name_and_every_field_is_reachable_by_one():
    fields = [(section, f.name) for section, cls in SECTIONS.items() for f in attrs.fields(cls)]
    assert len(set(WHERE.values())) == len(WHERE)  # no two names for one field
    assert set(fields) <= set(WHERE.values())
    assert {"database_url", "http_port", "slots", "retention_done_s", "worker_name"} <= set(setting_names())


def test_a_flat_key_a_section_table_and_a_variable_give_the_same_config(tmp_path):
    flat = load(write(tmp_path, "slots = 4\nhttp_port = 0\nretention_done_s = 3600\n"), env={})
    tables = load(
        write(tmp_path, "[daemon]\nslots = 4\n[http]\nport = 0\n[retention]\ndone_s = 3600\n"), env={}
    )
    env = load(env={"QRUN_SLOTS": "4", "QRUN_HTTP_PORT": "0", "QRUN_RETENTION_DONE_S": "3600"})
    assert flat == tables == env
    assert env.daemon.slots == 4 and env.http.port == 0 and env.retention.done_s == 3600


def test_a_section_table_also_takes_the_flat_name(tmp_path):
    assert load(write(tmp_path, "[http]\nhttp_port = 0\n"), env={}).http.port == 0


def test_the_environment_wins_over_the_file_and_overrides_over_both(tmp_path):
    path = write(tmp_path, "[daemon]\nslots = 4\nlease_s = 20\n")
    config = load(path, env={"QRUN_SLOTS": "6", "QRUN_LEASE_S": "40"}, lease_s=50)
    assert (config.daemon.slots, config.daemon.lease_s) == (6, 50)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slots = 4\n[daemon]\nslots = 5\n", "slots is set twice in the config file"),
        ("[http]\nbogus = 1\n", "unknown setting 'bogus' in [http]; known there: api_token"),
        ("bogus = 1\n", "unknown setting bogus; known: api_token"),
        ("[daemon]\nslots = 0\n", "slots must be > 0, got 0"),
        ("[http]\nport = 70000\n", "http_port must be a TCP port"),
        ("[daemon]\nslots = 'many'\n", "slots: invalid literal"),
        ("[recovery]\nreaper_enabled = 'maybe'\n", "reaper_enabled: expected true or false"),
    ],
)
def test_a_wrong_file_is_refused_naming_the_setting_by_its_flat_name(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, text), env={})


def test_an_unknown_variable_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="unknown setting QRUN_SLOT; known: QRUN_API_TOKEN"):
        load(env={"QRUN_SLOT": "4"})


def test_a_rule_across_sections_is_still_checked():
    with pytest.raises(ConfigError, match=r"retention_done_s \(10\) must exceed schedule_grace_s"):
        of(retention_done_s=10)
    assert of(retention_done_s=10, schedule_grace_s=5).retention.keep


def test_of_reads_neither_the_environment_nor_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("QRUN_SLOTS", "7")
    monkeypatch.setenv("QRUN_CONFIG", str(write(tmp_path, "lease_s = 9\n")))
    assert of() == Config()
    assert of(slots=3).daemon.slots == 3

"""Generated malformed input for the config loader and the CLI parser: each is either
taken or refused with a message (a ConfigError; exit 1 or 2), never a traceback."""

import string
import tempfile

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qrun.bootstrap.cli import main
from qrun.bootstrap.config import Config, ConfigError, load, setting_names

SETTINGS = ["QRUN_" + name.upper() for name in setting_names()]
junk = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "0", "-1", "1e309", "nan", "inf", "true", "[]", "{}", '{"a": 1}', "a,b", "\x00", "9" * 40]
    ),
)


@given(
    st.dictionaries(
        st.one_of(
            st.sampled_from(SETTINGS), st.text(string.ascii_uppercase, min_size=1).map("QRUN_".__add__)
        ),
        junk,
        max_size=4,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_config_loader_takes_or_refuses_any_environment(env):
    try:
        config = load(env=env)
    except ConfigError as exc:
        message = str(exc)
    else:
        assert isinstance(config, Config)
        return
    assert message  # a message naming the setting


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_the_config_loader_takes_or_refuses_any_file(text):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    try:
        load(f.name, env={})
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert f.name in message or "invalid configuration" in message or "unknown setting" in message


OPTIONS = [
    "--queue",
    "--priority",
    "--delay",
    "--key",
    "--key-limit",
    "--max-attempts",
    "--timeout",
    "--task",
    "--arg",
    "--input",
    "--runner",
    "--image",
    "--env",
    "--unique",
    "--unique-finished",
    "--pool",
    "--batch",
    "--memory",
    "--cpus",
    "--network",
]


@given(
    st.lists(st.tuples(st.sampled_from(OPTIONS), junk), max_size=4),
    st.lists(st.text(max_size=10), max_size=3),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_cli_parser_takes_or_refuses_any_submit(options, command):
    with tempfile.TemporaryDirectory(prefix="qrun-cli-") as folder:  # one per example, none left behind
        args = ["--db", f"{folder}/q.db", "submit"]
        for name, value in options:
            args += [name, value]
        args += ["--", *command]
        done = CliRunner().invoke(
            main,
            args,
            env={"QRUN_HTTP_PORT": "0", "QRUN_RUNS_DIR": f"{folder}/runs", "QRUN_INPUTS_DIR": f"{folder}/in"},
        )
        assert done.exit_code in (0, 1, 2), (args, done.output, done.exception)
        assert done.exception is None or isinstance(done.exception, SystemExit), (args, repr(done.exception))

"""The CLI explains itself in plain words: every command and option has a help text, and
none cites a requirement id (those are for us, not for users)."""

import re

import click

from qrun.bootstrap.cli import main


def commands(cmd=main, path=("qrun",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from commands(sub, (*path, name))


def test_every_command_and_option_has_help_in_plain_words():
    for path, cmd in commands():
        assert cmd.help, " ".join(path)
        texts = [cmd.help] + [p.help or "" for p in cmd.params if isinstance(p, click.Option)]
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name != "help":
                assert p.help, f"{' '.join(path)} {p.opts}"
        for text in texts:
            assert not re.search(r"\bR-[A-G]\d", text), f"{' '.join(path)}: {text}"

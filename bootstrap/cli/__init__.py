"""The `qrun` command: a module per command group, registered by `main`."""

from .main import main

__all__ = ["main"]

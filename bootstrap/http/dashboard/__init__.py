"""The dashboard served at `/` by `qrun serve`: server-rendered pages over the same use
cases as the CLI and the API, live by polling, with no build step and nothing fetched
from elsewhere."""

from .pages import refused, router

__all__ = ["refused", "router"]

"""The HTTP API served by `qrun serve`: a router per resource, mounted by `create_api`."""

from .api import create_api

__all__ = ["create_api"]

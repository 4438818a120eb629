"""The app factory: the API's routers mounted over one qrun app. 127.0.0.1 by default;
writes only with the configured bearer token. FastAPI publishes the OpenAPI document at
/openapi.json."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..app import App
from . import batches, jobs, metrics, queues, workflows
from .errors import RESPONSES
from .limits import BodyLimit


def create_api(app: App, *, token: str | None) -> Any:
    """The API's ASGI app, its bodies capped at the app's `max_body_bytes`."""
    return BodyLimit(fastapi_app(app, token=token), app.config.max_body_bytes)


def fastapi_app(app: App, *, token: str | None) -> FastAPI:
    api = FastAPI(title="qrun", summary="durable job execution", version="0.1.0")
    api.state.qrun = app
    api.state.token = token
    api.state.metrics = metrics.registry_for(app)
    api.include_router(queues.health, responses=RESPONSES)
    for module in (queues, jobs, batches, workflows, metrics):
        api.include_router(module.router, responses=RESPONSES)
    return api

"""The app factory: the API's routers mounted over one qrun app. 127.0.0.1 by default;
writes only with the configured bearer token. FastAPI publishes the OpenAPI document at
/openapi.json."""

from __future__ import annotations

from fastapi import FastAPI

from ..app import App
from . import batches, jobs, metrics, queues, workflows


def create_api(app: App, *, token: str | None) -> FastAPI:
    api = FastAPI(title="qrun", summary="durable job execution", version="0.1.0")
    api.state.qrun = app
    api.state.token = token
    api.state.metrics = metrics.registry_for(app)
    for module in (queues, jobs, batches, workflows, metrics):
        api.include_router(module.router)
    return api

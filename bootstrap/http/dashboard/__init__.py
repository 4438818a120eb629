"""The dashboard served at `/` by `qrun serve`: server-rendered pages (Jinja2 templates in
templates/) over the same use cases as the CLI and the API, live by polling, with no
build step and nothing fetched from elsewhere. Routes: `pages` read, `auth` signs in and
out, `actions` act."""

from fastapi import APIRouter

from .actions import actions
from .auth import auth, refused
from .pages import pages

router = APIRouter(include_in_schema=False)
router.include_router(pages)
router.include_router(auth)
router.include_router(actions)

__all__ = ["refused", "router"]

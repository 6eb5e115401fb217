"""The console's own stylesheet (the only file it loads)."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from gateway.console.routing import ConsoleRoute
from gateway.platform.errors import NotFound

router = APIRouter(route_class=ConsoleRoute)

# A fixed list, not a directory listing: nothing else under the package can be fetched.
FILES = {"console.css": "text/css; charset=utf-8"}


@functools.cache
def _read(name: str) -> bytes:
    return resources.files("gateway.console").joinpath("static", name).read_bytes()


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFound("no such file")
    return Response(_read(name), media_type=media_type)

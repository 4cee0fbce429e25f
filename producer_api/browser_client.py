"""GET /logstream.js (a classic script) and /logstream.mjs (an ES module): the browser client, built
from clients/js and committed here, so a page needs one script tag, no CDN and no Node.js to serve it."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter()
SCRIPTS = {"/logstream.js": "logstream.js", "/logstream.mjs": "logstream.mjs"}
PATHS = tuple(SCRIPTS)
CACHE = "public, max-age=3600"


def script_route(path: str, name: str) -> None:
    source = files("producer_api").joinpath("static", name).read_bytes()

    @router.get(path, include_in_schema=False, name=name)
    async def script() -> Response:
        return Response(source, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": CACHE})


for _path, _name in SCRIPTS.items():
    script_route(_path, _name)

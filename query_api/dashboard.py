"""The dashboard: one page at `/` (and `/dashboard`) over the read API, with every script and style
served from this package (query_api/dashboard_assets/; the chart library built by frontend/), so it
works with no internet. The page itself holds no data: it calls the API from the browser, with the
read key it asks for when keys are on."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from logstream.assets import REVALIDATE, Asset, AssetDirectory

STATIC_PATH = "/dashboard/static"
ASSETS = AssetDirectory(Path(__file__).parent / "dashboard_assets", STATIC_PATH)
PAGE_PATHS = ("/", "/dashboard")
# Every asset the page names: {{asset:NAME}} in index.html becomes NAME's URL with its digest.
ASSET_REFERENCE = re.compile(r"\{\{asset:([\w./-]+)\}\}")
# The page loads nothing from elsewhere; ECharts sets element styles from script (allowed by CSSOM).
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


@cache
def page() -> Asset:
    template = (ASSETS.root / "index.html").read_text()
    return Asset(ASSET_REFERENCE.sub(lambda m: ASSETS.url(m.group(1)), template).encode(), "text/html; charset=utf-8")


def install(app: FastAPI) -> None:
    async def dashboard(request: Request) -> Response:
        response = page().response(request, cache_control=REVALIDATE)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    for path in PAGE_PATHS:
        app.add_api_route(path, dashboard, methods=["GET", "HEAD"], include_in_schema=False,
                          response_class=HTMLResponse)

    @app.get(STATIC_PATH + "/{name:path}", include_in_schema=False)
    async def dashboard_static(request: Request, name: str) -> Response:
        if name == "index.html":
            return Response("Not Found", status_code=404, media_type="text/plain")
        return ASSETS.response(request, name)

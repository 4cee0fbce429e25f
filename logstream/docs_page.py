"""GET /docs: Swagger UI from files this package ships (logstream/swagger_ui/, built from npm's
swagger-ui-dist by frontend/), so the page renders with no internet. FastAPI's own /docs loads its
script and styles from a CDN, and renders blank offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from logstream.assets import AssetDirectory

DOCS_PATH = "/docs"
STATIC_PATH = "/docs/static"
SWAGGER_UI = AssetDirectory(Path(__file__).parent / "swagger_ui", STATIC_PATH)


def install(app: FastAPI, *, openapi_url: str = "/openapi.json", title: str) -> None:
    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=title,
                                   swagger_js_url=SWAGGER_UI.url("swagger-ui-bundle.js"),
                                   swagger_css_url=SWAGGER_UI.url("swagger-ui.css"),
                                   swagger_favicon_url=SWAGGER_UI.url("favicon-32x32.png"))

    @app.get(STATIC_PATH + "/{name}", include_in_schema=False)
    async def docs_static(request: Request, name: str) -> Response:
        return SWAGGER_UI.response(request, name)

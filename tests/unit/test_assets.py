"""logstream/assets.py: the pages' files, compressed, with ETags, cacheable for a year under their digest."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from logstream.assets import IMMUTABLE, REVALIDATE, AssetDirectory


def client(root: Path) -> tuple[TestClient, AssetDirectory]:
    assets = AssetDirectory(root / "static", "/static")

    async def serve(request: Request) -> Response:
        return assets.response(request, request.path_params["name"])

    return TestClient(Starlette(routes=[Route("/static/{name:path}", serve)])), assets


def test_an_asset_named_with_its_digest_is_immutable_compressed_and_revalidated_by_etag(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.js").write_text("console.log('logstream');\n" * 100)
    http, assets = client(tmp_path)
    url = assets.url("app.js")
    assert url.startswith("/static/app.js?v=")
    answer = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip"
    assert answer.headers["cache-control"] == IMMUTABLE
    assert answer.headers["content-type"] == "application/javascript; charset=utf-8"
    assert answer.text == "console.log('logstream');\n" * 100
    assert http.get("/static/app.js?v=stale").headers["cache-control"] == REVALIDATE
    again = http.get("/static/app.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_nothing_outside_the_directory_is_served(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    http, _ = client(tmp_path)
    for path in ("/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/missing.js", "/static/"):
        assert http.get(path).status_code == 404, path

"""Static files served by logstream itself (the dashboard's, Swagger UI's): nothing is loaded from a
CDN, so the pages work with no internet.

Each file is read once, gzip-compressed once (for clients that accept it) and served with a strong
ETag (a digest of its content). Pages name each asset with `?v=<digest>` (`url()`): an answer to a
request that names the current digest may be cached for a year (`immutable`); any other is
revalidated (`no-cache`, then 304 when the ETag still matches)."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
TYPES = {".js": "application/javascript", ".css": "text/css", ".html": "text/html", ".txt": "text/plain",
         ".map": "application/json", ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]

    @cached_property
    def gzipped(self) -> bytes | None:
        if not self.media_type.startswith(COMPRESSIBLE) or len(self.body) < 512:
            return None
        return gzip.compress(self.body, compresslevel=9, mtime=0)

    def response(self, request: Request, *, cache_control: str | None = None) -> Response:
        etag = f'"{self.digest}"'
        if cache_control is None:
            cache_control = IMMUTABLE if request.query_params.get("v") == self.digest else REVALIDATE
        headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding",
                   "X-Content-Type-Options": "nosniff"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if self.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            return Response(self.gzipped, media_type=self.media_type, headers={**headers, "Content-Encoding": "gzip"})
        return Response(self.body, media_type=self.media_type, headers=headers)


class AssetDirectory:
    """The files directly under `root` and one level below it (read lazily, kept in memory)."""

    def __init__(self, root: Path, url_prefix: str):
        self.root = root
        self.url_prefix = url_prefix.rstrip("/")
        self._assets: dict[str, Asset] = {}

    def get(self, name: str) -> Asset | None:
        if name not in self._assets:
            path = (self.root / name).resolve()
            if self.root.resolve() not in path.parents or not path.is_file():
                return None
            media_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media_type.startswith("text/") or media_type == "application/javascript":
                media_type += "; charset=utf-8"
            self._assets[name] = Asset(path.read_bytes(), media_type)
        return self._assets[name]

    def url(self, name: str) -> str:
        asset = self.get(name)
        if asset is None:
            raise FileNotFoundError(self.root / name)
        return f"{self.url_prefix}/{name}?v={asset.digest}"

    def response(self, request: Request, name: str) -> Response:
        asset = self.get(name)
        if asset is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        return asset.response(request)

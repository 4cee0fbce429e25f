"""Reading a JSON request body within limits, before any of it is trusted.

A gzip body (`Content-Encoding: gzip`) is inflated as it arrives, never past
LOGSTREAM_MAX_DECOMPRESSED_BYTES: a gzip bomb costs that much memory at most, and its 413 comes as soon
as the limit is crossed. The bytes on the wire count against LOGSTREAM_MAX_BODY_BYTES either way.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from producer_api.errors import (
    DecompressedTooLargeError,
    InvalidGzipError,
    InvalidJSONError,
    InvalidUnicodeError,
    PayloadTooLargeError,
    UnsupportedEncodingError,
    UnsupportedMediaTypeError,
)
from producer_api.settings import ProducerSettings

GZIP = frozenset({"gzip", "x-gzip"})


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def is_gzip(content_encoding: str | None) -> bool:
    """True for gzip, False for none (or identity); anything else is a 415."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return False
    if len(codings) == 1 and codings[0] in GZIP:
        return True
    raise UnsupportedEncodingError(f"Content-Encoding {content_encoding[:64]!r} is not supported; "  # type: ignore[index]
                                   "send gzip or no encoding")


class Inflater:
    """Inflates gzip members as they arrive (several members in a row are one body, as RFC 1952
    allows), refusing as soon as the output would exceed `limit`."""

    def __init__(self, limit: int):
        self.limit = limit
        self.out = bytearray()
        self._member = zlib.decompressobj(wbits=31)
        self._in_member = False  # some of the current member was read, not yet its end

    def feed(self, data: bytes) -> None:
        member = self._member
        try:
            while data:
                self._in_member = True
                self.out += member.decompress(data, self.limit - len(self.out) + 1)
                if len(self.out) > self.limit:
                    raise DecompressedTooLargeError(f"the body inflates to more than {self.limit} bytes")
                if member.eof:  # another member may follow
                    data, self._in_member = member.unused_data, False
                    self._member = member = zlib.decompressobj(wbits=31)
                else:
                    data = member.unconsumed_tail
        except zlib.error as exc:
            raise InvalidGzipError(f"the body is not valid gzip: {exc}") from None

    def finish(self) -> bytes:
        if self._in_member:
            raise InvalidGzipError("the gzip body is truncated")
        return bytes(self.out)


async def read_json(request: Request, settings: ProducerSettings, *, require_json_type: bool = True) -> Any:
    """`require_json_type=False` reads the body as JSON whatever its Content-Type (compatibility routes)."""
    if require_json_type and not is_json(request.headers.get("content-type")):
        raise UnsupportedMediaTypeError("send the logs as Content-Type: application/json")
    limit = settings.max_body_bytes
    inflater = Inflater(settings.max_decompressed_bytes) if is_gzip(request.headers.get("content-encoding")) else None
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:  # a chunked body declares no length: count as it comes
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
        if inflater is not None:
            inflater.feed(chunk)
        else:
            body += chunk
    return parse(inflater.finish() if inflater is not None else body)


def parse(body: bytes | bytearray) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "surrogate in string" in exc.msg:  # an escaped lone surrogate, e.g. "\\ud800"
            raise InvalidUnicodeError(f"the body is not valid UTF-8 JSON text: {exc}") from None
        raise InvalidJSONError(f"the body is not valid JSON: {exc}") from None

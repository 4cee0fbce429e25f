"""The producer's errors: one root, one rendering (logstream.problems)."""

from __future__ import annotations

from logstream.problems import ProblemError


class IngestError(ProblemError):
    pass


class InvalidLogsError(IngestError):
    status, code, title = 400, "invalid_logs", "The logs do not match the contract"


class InvalidJSONError(IngestError):
    status, code, title = 400, "invalid_json", "The body is not JSON"


class UnsupportedMediaTypeError(IngestError):
    status, code, title = 415, "unsupported_media_type", "Send application/json"


class PayloadTooLargeError(IngestError):
    status, code, title = 413, "payload_too_large", "The body is too large"


class BrokerUnavailableError(IngestError):
    status, code, title = 503, "broker_unavailable", "The log broker did not acknowledge the logs"


class BrokerMemoryFullError(IngestError):
    status, code, title = 503, "broker_memory_full", "The embedded broker's memory is full"


class QueueFullError(IngestError):
    status, code, title = 503, "queue_full", "The producer's queue is full"


class UpstreamUnavailableError(IngestError):
    status, code, title = 503, "upstream_unavailable", "The query service is unavailable"


class InvalidUnicodeError(IngestError):
    status, code, title = 400, "invalid_unicode", "The body is not valid UTF-8 (e.g. a lone surrogate)"


class InvalidGzipError(IngestError):
    status, code, title = 400, "invalid_gzip", "The body is not valid gzip"


class UnsupportedEncodingError(IngestError):
    status, code, title = 415, "unsupported_content_encoding", "Send gzip or no Content-Encoding"


class DecompressedTooLargeError(IngestError):
    status, code, title = 413, "decompressed_too_large", "The body inflates past the size limit"


class TooManyLogsError(IngestError):
    status, code, title = 413, "too_many_logs", "Too many logs in one request"


class LogTooLargeError(IngestError):
    status, code, title = 413, "log_too_large", "A log is too large for one record"


class InvalidErasureError(IngestError):
    status, code, title = 400, "invalid_erasure", "Not an erasure request"

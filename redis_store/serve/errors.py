"""Clair's error answers: ``{"code": ..., "message": ...}``, as ``apiError`` writes them.

``code`` is ``bad-request`` (400), ``method-not-allowed`` (405), ``not-found`` (404),
``too-many-requests`` (429) and ``internal-error`` for every other status (413, 415, 502,
503, 504 ...), with ``Content-Type: application/json`` and ``X-Content-Type-Options:
nosniff`` (clair ``httptransport/error.go``). A failed authentication is a 401 with an
empty body (``middleware/auth``), and so is nothing here.
"""

from __future__ import annotations

from typing import Final

import orjson
from starlette.responses import Response

CODES: Final = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    429: "too-many-requests",
}
ERROR_HEADERS: Final = {"x-content-type-options": "nosniff"}


class ApiError(Exception):
    """Answer the request with Clair's error for ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> bytes:
    return orjson.dumps({"code": CODES.get(status, "internal-error"), "message": message})


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        error_body(status, message),
        status,
        headers={**ERROR_HEADERS, **(headers or {})},
        media_type="application/json",
    )


__all__ = ["CODES", "ApiError", "error_body", "error_response"]

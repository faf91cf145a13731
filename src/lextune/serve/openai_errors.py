"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so the official SDK raises
the matching exception class (NotFoundError for 404, UnprocessableEntityError for 422, ...).

A router built with `route_class=OpenAIRoute` answers every failure of its own routes in that shape,
whatever app includes it; `install_error_handlers(app)` does the same app-wide (unknown paths, 405s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from lextune.core.errors import LextuneError, NotFoundError

log = logging.getLogger("lextune.serve")


class APIError(Exception):
    """Raise in a route to answer `status` with OpenAI's error body; `param` names the offending field."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or error_type(status)


def error_type(status: int) -> str:
    """OpenAI's `type` for a status: client errors are invalid_request_error, the rest server_error."""
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    return "invalid_request_error" if status < 500 else "server_error"


def error_response(status: int, message: str, *, param: str | None = None, code: str | None = None,
                   type: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response with OpenAI's error body."""
    body = {"error": {"message": message, "type": type or error_type(status), "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    """The dotted field name of a pydantic location, without FastAPI's leading body/query/path."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "form", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def validation_response(exc: RequestValidationError) -> JSONResponse:
    """422 naming the first bad field (and how many more there are)."""
    errors = exc.errors()
    if not errors:
        return error_response(422, "invalid request", code="invalid_request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "not valid JSON")
        return error_response(422, f"the request body is not valid JSON: {reason}", code="invalid_json")
    field = _field(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return error_response(422, f"{field or 'request'}: {msg}{more}", param=field, code="invalid_value")


def lextune_status(exc: LextuneError) -> int:
    """The error's own `http_status` (a prompt over the context: 400; a failing remote engine: 502),
    else 404 for a record that does not exist and 422 for every other bad input lextune names."""
    return getattr(exc, "http_status", None) or (404 if isinstance(exc, NotFoundError) else 422)


def to_response(exc: Exception) -> JSONResponse:
    """The OpenAI-shaped response for any exception a route let escape."""
    if isinstance(exc, APIError):
        return error_response(exc.status, exc.message, param=exc.param, code=exc.code, type=exc.type)
    if isinstance(exc, RequestValidationError):
        return validation_response(exc)
    if isinstance(exc, StarletteHTTPException):
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))
    if isinstance(exc, LextuneError):
        return error_response(lextune_status(exc), str(exc), code=getattr(exc, "code", None))
    log.exception("unhandled error in an API route", exc_info=exc)
    return error_response(500, f"internal error: {type(exc).__name__}", code="internal_error")


class OpenAIRoute(APIRoute):
    """A route whose failures (bad body, unknown id, lextune errors, crashes) come back in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an answer the SDK can read
                return to_response(exc)

        return route


def install_error_handlers(app: FastAPI) -> None:
    """OpenAI-shaped errors app-wide, including for paths no route matches (404) and wrong methods (405)."""

    async def handle(request: Request, exc: Exception) -> Response:
        return to_response(exc)

    for kind in (APIError, RequestValidationError, StarletteHTTPException, HTTPException, LextuneError):
        app.add_exception_handler(kind, handle)

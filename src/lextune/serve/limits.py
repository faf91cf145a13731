"""Request body limits enforced on the bytes received, not only on what Content-Length claims.

A client can omit Content-Length (chunked transfer) or understate it; counting the body as it streams
in stops it at the limit either way, before a route buffers it.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException

_UPLOAD_PREFIX = "/v1/files"


class BodyLimit:
    """ASGI middleware: 413 (OpenAI's error shape) once a request body passes its limit."""

    def __init__(self, app, max_request_bytes: int, max_upload_bytes: int):
        self.app = app
        self.max_request_bytes, self.max_upload_bytes = max_request_bytes, max_upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"].startswith(_UPLOAD_PREFIX)
        limit, key = ((self.max_upload_bytes, "max_upload_bytes") if upload
                      else (self.max_request_bytes, "max_request_bytes"))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send, f"request body of {int(declared)} bytes is over the limit of {limit} ({key})")
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(f"request body is over the limit of {limit} bytes ({key})")
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _TooLarge as e:
            if not started:
                await _too_large(send, e.detail)


class _TooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing re-raises it as is (413) rather than as a 400."""

    def __init__(self, message: str):
        super().__init__(status_code=413, detail=message)


async def _too_large(send, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": "request_too_large"}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""Errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, so SDKs raise the right class."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from lextune.core.errors import ConfigError, DatasetError, LextuneError, NotFoundError


def openai_error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status)


def _location(loc) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        errors = exc.errors()
        message = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors)
        return openai_error(422, message, param=_location(errors[0]["loc"]) if errors else None)

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError):
        code = "model_not_found" if type(exc).__name__ == "ModelNotFound" else "not_found"
        return openai_error(404, str(exc), code=code)

    @app.exception_handler(LextuneError)
    async def _bad(_request: Request, exc: LextuneError):
        from lextune.serve.engine import PromptTooLong

        if isinstance(exc, PromptTooLong):
            return openai_error(400, str(exc), param="messages", code="context_length_exceeded")
        status = 400 if isinstance(exc, (ConfigError, DatasetError)) or type(exc) is LextuneError else 500
        return openai_error(status, str(exc), type_="invalid_request_error" if status == 400 else "server_error")

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException):
        return openai_error(exc.status_code, str(exc.detail))

"""Error responses: every error is JSON with a stable ``error`` code, never an HTML page or a 500
for bad input. The codes also label ``dashboard_errors_total``."""
from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import context

log = logging.getLogger("inventario_dashboard.errors")


class ApiError(Exception):
    """An error answer: ``status``, a stable ``code`` and extra JSON fields."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **fields):
        super().__init__(code)
        self.status, self.code, self.headers, self.fields = status, code, headers or {}, fields


class FeatureUnavailable(ApiError):
    """503 for a feature the current level or a down dependency does not allow (docs/contract.md §5)."""

    def __init__(self, feature: str, level: str, retry_after_s: float, **fields):
        super().__init__(503, "feature_unavailable",
                         headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
                         feature=feature, degradation_level=level, **fields)


def error_response(status: int, code: str, headers: dict[str, str] | None = None,
                   **fields) -> JSONResponse:
    """Build the JSON error body and remember its code for metrics/logs."""
    context.current().error_type = code
    return JSONResponse({"error": code, **fields}, status_code=status, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
                 415: "unsupported_media_type"}


def _validation_details(exc: RequestValidationError) -> list[dict]:
    # Only location, message and type: echoing the raw input could echo a secret back.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()[:20]]


def install_handlers(app: FastAPI) -> None:
    """Register the JSON handlers for API errors, validation errors and HTTP errors."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.headers, **exc.fields)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(400, "malformed_json", detail=details)
        return error_response(422, "validation_error", detail=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, getattr(exc, "headers", None))

"""Errors as RFC 7807 problem details (``application/problem+json``), naming the offending field.

Every error the API returns — validation, caps, unknown model, oversized body, missing
token, and (should one slip through) an internal error — has the same shape, and the
OpenAPI schema documents it on every operation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from policylab.errors import PolicyLabError
from policylab.server.schemas import Problem

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("policylab.server")


def problem(status: int, detail: str, *, field: str | None = None, errors: list[dict[str, str]] | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem-details response."""
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, field=field, errors=errors or [],
                   instance=instance)
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind, parts = parts[0], parts[1:]
        if kind != "body" and parts:
            return f"{kind}.{'.'.join(parts)}"
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in error.errors()]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    return problem(422, detail, field=first["field"], errors=errors, instance=request.url.path)


async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).description
    return problem(error.status_code, detail, instance=request.url.path, headers=getattr(error, "headers", None))


async def _policylab(request: Request, error: PolicyLabError) -> JSONResponse:
    field = getattr(error, "field", None)
    message = str(error)
    detail = f"{field}: {message}" if field and not message.startswith(field) else message
    return problem(422, detail, field=field, errors=[{"field": field, "message": message}] if field else [],
                   instance=request.url.path)


async def _internal(request: Request, error: Exception) -> JSONResponse:
    log.exception("internal error on %s", request.url.path, exc_info=error)
    return problem(500, "internal error; the server log has the details", instance=request.url.path)


def install(app: FastAPI) -> None:
    """Register the problem-details handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(PolicyLabError, _policylab)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def document(schema: dict[str, Any], statuses: dict[str, str], secured: bool) -> dict[str, Any]:
    """Rewrite a generated OpenAPI schema: problem+json errors on every operation, bearer auth if configured.

    ``statuses`` maps status codes to a description; each is added to every operation.
    Every error response (4xx/5xx) — FastAPI's default 422 ``HTTPValidationError``
    included — is documented with the problem shape.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    if secured:
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description})
            if secured and path.startswith("/api/"):
                operation["security"] = [{"bearer": []}]
                responses["401"] = {"description": "Missing or wrong bearer token"}
            if method in ("post", "put", "patch"):
                responses["413"] = {"description": "Request body too large"}
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = _problem_content()
                    response["description"] = response.get("description") or HTTPStatus(int(status)).phrase
    return schema

"""The OpenAPI schema documents what every operation can answer, errors included.

Every error body is the same shape (``cdss.core.api``/``cdss.core.http_errors``); a
postprocessing hook adds it to every operation for the statuses any of them may give, so a
client (and schemathesis) finds each answer in the schema. An operation's own description of
a status (a 400 with a report, say) is kept.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message", "detail", "request_id"],
    "properties": {
        "code": {"type": "string", "description": "Stable error code, e.g. not_found, validation_failed."},
        "message": {"type": "string"},
        "detail": {"description": "Field errors or other structured detail; null when none.", "nullable": True},
        "request_id": {"type": "string", "description": "The request's id, as in the X-Request-ID header."},
    },
}

ERROR_STATUSES = {
    "400": "The request is not valid (bad JSON, a field, a filter, a Host header).",
    "401": "Not authenticated.",
    "403": "Not allowed (role, CSRF).",
    "404": "Not found, or not visible to this user (the two look alike).",
    "405": "Method not allowed.",
    "406": "No acceptable representation.",
    "409": "Clashes with the current state.",
    "413": "The request body is too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests; see Retry-After.",
    "503": "A backing service is unavailable; try again shortly.",
}
_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
    return result

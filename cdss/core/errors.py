"""One exception hierarchy with stable error codes.

Domain code raises these; the DRF exception handler (``cdss.core.api``) turns them into
``{"code", "message", "detail"}`` responses. Codes are part of the public API: never rename one.
"""

from __future__ import annotations

from typing import Any


class CdssError(Exception):
    """Base class: every domain error has a stable ``code`` and an HTTP status."""

    code: str = "error"
    status_code: int = 400

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ValidationFailed(CdssError):
    """Input that can never be accepted as given (400)."""

    code = "validation_failed"
    status_code = 400


class NotFound(CdssError):
    """Missing, or not visible to this user: the two are deliberately indistinguishable (404)."""

    code = "not_found"
    status_code = 404


class PermissionDenied(CdssError):
    """The user may see the object but not do this to it (403)."""

    code = "permission_denied"
    status_code = 403


class Conflict(CdssError):
    """The request clashes with the current state (409)."""

    code = "conflict"
    status_code = 409


class ServiceUnavailable(CdssError):
    """A backing service (database, Redis, PACS) is down; retry later (503)."""

    code = "service_unavailable"
    status_code = 503


class RequestTooLarge(CdssError):
    """The body is over the limit for this endpoint (413)."""

    code = "request_too_large"
    status_code = 413


class Throttled(CdssError):
    """Too many requests from this client or for this account; retry after ``retry_after`` s (429)."""

    code = "throttled"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, detail: object = None) -> None:
        super().__init__(message, code=code, detail=detail)
        self.retry_after = max(1, int(retry_after))

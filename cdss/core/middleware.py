"""Cross-cutting HTTP middleware: request ids, no-store for patient data, database outages."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from cdss.core.request_context import request_id_var

logger = logging.getLogger(__name__)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Anything under these prefixes may carry patient data and must never be cached.
_PATIENT_DATA_PREFIXES = ("/api/", "/dicomweb/", "/patients/", "/studies/", "/reports/")

Handler = Callable[[HttpRequest], HttpResponse]


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Gives every request a server-made id, answered in X-Request-ID.

    A client's own X-Request-ID is never the request's id (a client could otherwise reuse
    one to blur the audit trail); a sane one is kept beside it as ``client_request_id``.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request.client_request_id = incoming if _REQUEST_ID_RE.match(incoming) else ""  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class PatientDataNoStoreMiddleware:
    """Patient data must not linger in browser or proxy caches."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(_PATIENT_DATA_PREFIXES):
            response["Cache-Control"] = "no-store, private"
            response["Pragma"] = "no-cache"
        return response


class DatabaseUnavailableMiddleware:
    """A database outage answers 503 with a stable code, never a traceback."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)) or (
            isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
        ):
            logger.warning("database unavailable: %s", type(exception).__name__)
            return JsonResponse(
                {
                    "code": "database_unavailable",
                    "message": "The database is unavailable; try again shortly.",
                    "detail": None,
                },
                status=503,
                headers={"Retry-After": "5"},
            )
        return None

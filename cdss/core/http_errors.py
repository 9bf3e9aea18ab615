"""Every error answer, whoever produced it, is ``{"code", "message", "detail", "request_id"}``.

DRF views already answer through ``cdss.core.api.exception_handler``. This module covers the
rest: Django's own error views (``handler400/403/404/500``, CSRF failure), errors raised before
any view runs (a bad Host header, a body over the size limit, an unknown URL, a method a plain
Django view refuses) and, with DEBUG on, the places where Django would show its debug page.
``ErrorBodyMiddleware`` (outermost) rewrites any error answer that is not JSON: API paths get the
JSON body, other paths (the portal's HTML routes) a plain text page; neither shows a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.safestring import SafeString
from django.views.debug import ExceptionReporter

from cdss.core.errors import CdssError
from cdss.core.request_context import request_id_var

logger = logging.getLogger(__name__)

# Paths whose clients are programs: errors are JSON there.
API_PREFIXES = ("/api/", "/dicomweb/", "/ws/", "/healthz", "/readyz")
_JSON_TYPES = ("application/json", "application/problem+json", "application/fhir+json", "application/dicom+json")
# Error bodies this large are never ours to amend with a request id.
_AMEND_MAX_BYTES = 64 * 1024

_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is not valid."),
    401: ("not_authenticated", "Authentication is required."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    406: ("not_acceptable", "No acceptable representation."),
    408: ("request_timeout", "The request took too long to arrive."),
    409: ("conflict", "The request clashes with the current state."),
    410: ("gone", "Gone."),
    413: ("request_too_large", "The request body is too large."),
    414: ("uri_too_long", "The URL is too long."),
    415: ("unsupported_media_type", "Unsupported media type."),
    429: ("throttled", "Too many requests; try again later."),
    500: ("internal_error", "Something went wrong on our side; it has been logged."),
    502: ("bad_gateway", "A backing service answered badly."),
    503: ("service_unavailable", "A backing service is unavailable; try again shortly."),
    504: ("gateway_timeout", "A backing service did not answer in time."),
}


def current_request_id(request: HttpRequest | None = None) -> str:
    return str(getattr(request, "request_id", None) or request_id_var.get())


def exception_error(exc: BaseException | None, status: int) -> tuple[int, str, str]:
    """(status, code, message) for an exception Django turned into an error answer."""
    if isinstance(exc, CdssError):
        return exc.status_code, exc.code, exc.message
    if isinstance(exc, DisallowedHost):
        return 400, "bad_host", "The Host header names no host this server answers for."
    if isinstance(exc, RequestDataTooBig):
        return 413, "request_too_large", "The request body is too large."
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return 413, "too_many_fields", "The request has too many fields or files."
    if isinstance(exc, (SuspiciousOperation, BadRequest)):
        return 400, "bad_request", "The request is not valid."
    if isinstance(exc, Http404):
        return 404, *_STATUS_CODES[404]
    if isinstance(exc, PermissionDenied):
        return 403, *_STATUS_CODES[403]
    code, message = _STATUS_CODES.get(status, ("error" if status < 500 else "internal_error", "The request failed."))
    return status, code, message


def error_response(request: HttpRequest | None, status: int, code: str, message: str, detail: Any = None) -> HttpResponse:
    """The error answer for ``request``'s path: JSON for programs, plain text for pages."""
    request_id = current_request_id(request)
    path = getattr(request, "path", "") or ""
    if path.startswith(API_PREFIXES) or request is None:
        response: HttpResponse = JsonResponse(
            {"code": code, "message": message, "detail": detail, "request_id": request_id}, status=status
        )
    else:
        response = HttpResponse(
            f"{status} {message}\nRequest id: {request_id}\n", status=status, content_type="text/plain; charset=utf-8"
        )
    response["X-Request-ID"] = request_id
    response.cdss_error = True  # type: ignore[attr-defined]
    return response


def _from_exception(request: HttpRequest, exception: BaseException | None, status: int) -> HttpResponse:
    status, code, message = exception_error(exception, status)
    return error_response(request, status, code, message)


def handler400(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return _from_exception(request, exception, 400)


def handler403(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return _from_exception(request, exception, 403)


def handler404(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return _from_exception(request, exception, 404)


def handler500(request: HttpRequest) -> HttpResponse:
    return _from_exception(request, sys.exc_info()[1], 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    # The reason names which check failed (Origin, Referer, cookie, token); it is no secret.
    return error_response(request, 403, "csrf_failed", "CSRF verification failed.", {"reason": reason})


class QuietExceptionReporter(ExceptionReporter):
    """With DEBUG on, Django renders its debug page through this class: it renders nothing and
    leaves the exception for ``ErrorBodyMiddleware``, which answers with the error body."""

    def __init__(self, request: HttpRequest | None, exc_type: Any, exc_value: Any, tb: Any, is_email: bool = False) -> None:
        super().__init__(request, exc_type, exc_value, tb, is_email)
        if request is not None:
            request.cdss_exception = exc_value  # type: ignore[attr-defined]

    def get_traceback_html(self) -> SafeString:
        return SafeString("")

    def get_traceback_text(self) -> SafeString:
        return SafeString("")


def _is_json(response: HttpResponseBase) -> bool:
    content_type = str(response.get("Content-Type", "")).split(";")[0].strip().lower()
    return content_type in _JSON_TYPES or content_type.endswith("+json")


class ErrorBodyMiddleware:
    """Outermost: any error answer that is not already JSON becomes the error body.

    Django answers some errors before, or outside, any view (unknown URL, bad Host, oversized
    body, the CSRF check, ``require_GET``), and with DEBUG on it would show its debug page for
    them; the code comes from the exception when one was recorded, else from the status.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code < 400 or getattr(response, "cdss_error", False) or response.streaming:
            return response
        if _is_json(response):
            return _with_request_id(request, response)
        replacement = _from_exception(request, getattr(request, "cdss_exception", None), response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _with_request_id(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    content = getattr(response, "content", b"")
    if not content or len(content) > _AMEND_MAX_BYTES:
        return response
    try:
        body = json.loads(content)
    except ValueError:
        return response
    if isinstance(body, dict) and "code" in body and "request_id" not in body:
        body["request_id"] = current_request_id(request)
        response.content = json.dumps(body).encode()  # type: ignore[attr-defined]
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
    return response

"""Every API request leaves its audit entry here, unless the code that served it wrote one.

- A successful GET or HEAD under /api/ or /fhir/ (or a POST of a view that declares it a read) gets
  exactly one read entry, written after the view has
  answered from what the access checks marked and the view noted (``cdss.audit.reads``). If
  that entry cannot be stored, the data is withheld (503): no read goes unaudited.
- A request refused or failed (not authenticated, a 404 of an unknown report, a 403 of a
  permission class, a 405, a 429, an unhandled exception) gets one entry when nothing on its
  way wrote one (the access module audits each denial it decides, with more detail).

Changes are audited by their services, inside the change's transaction. WebSocket
subscriptions and the DICOMweb proxy's batched series views audit on their own paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import ReadAudit, read_audit_var
from cdss.audit.services import audit_entries_var, audit_record
from cdss.core.api import error_body
from cdss.core.ids import id_for_audit, id_parse

logger = logging.getLogger(__name__)

AUDITED_PREFIXES = ("/api/", "/dicomweb/", "/fhir/")
# The DICOMweb proxy audits its reads itself, a series view per batch (imaging/dicomweb/proxy.py).
READS_AUDITED_PREFIXES = ("/api/", "/fhir/")
READ_METHODS = frozenset({"GET", "HEAD"})
_ACTIONS = {"GET": AuditAction.READ, "HEAD": AuditAction.READ, "OPTIONS": AuditAction.READ,
            "POST": AuditAction.CREATE, "PUT": AuditAction.UPDATE, "PATCH": AuditAction.UPDATE,
            "DELETE": AuditAction.DELETE}
_DENIED = frozenset({401, 403, 404, 405, 429})


class AuditRequestsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(AUDITED_PREFIXES):
            return self.get_response(request)
        written: list[Any] = []
        read = ReadAudit() if request.path.startswith(READS_AUDITED_PREFIXES) else None
        entries_token = audit_entries_var.set(written)
        read_token = read_audit_var.set(read)
        try:
            response = self.get_response(request)
        finally:
            read_audit_var.reset(read_token)
            audit_entries_var.reset(entries_token)
        try:
            if response.status_code >= 400:
                if not written:
                    audit_request_refusal(request, response.status_code)
            elif read is not None and request.method in _read_methods(request):
                audit_read_record(request, read)
        except DatabaseError:
            if response.status_code >= 400:
                logger.warning("could not audit a refused request (database unavailable)")
                return response
            logger.warning("could not audit a read (database unavailable); the answer is withheld")
            return JsonResponse(
                error_body("database_unavailable", "The database is unavailable; try again shortly."),
                status=503, headers={"Retry-After": "5"},
            )
        return response


def _view_class(request: HttpRequest) -> Any:
    match = getattr(request, "resolver_match", None)
    return getattr(match.func, "view_class", None) if match else None


def _read_methods(request: HttpRequest) -> frozenset[str]:
    """GET and HEAD; a view that reads on POST (a computation over stored data that stores
    nothing) adds it with ``audit_read_methods``."""
    return READ_METHODS | frozenset(getattr(_view_class(request), "audit_read_methods", ()))


def _url_ids(request: HttpRequest) -> tuple[Any, int | None, Any]:
    """(the resolved URL, its last object id, its patient id) from the URL's keywords."""
    match = getattr(request, "resolver_match", None)
    kwargs = {k: v for k, v in (match.kwargs if match else {}).items() if k != "route"}
    object_id = next((v for k, v in reversed(kwargs.items()) if k.endswith("_id") or k in ("study", "series")), None)
    return match, id_parse(kwargs.get("patient_id")), object_id


def audit_read_record(request: HttpRequest, read: ReadAudit) -> None:
    """The one entry of a successful read: the view's declared type and action, the object
    and patient its access checks marked (else the URL's ids), the detail it noted."""
    match, url_patient_id, url_object_id = _url_ids(request)
    view_class = _view_class(request)
    object_type = getattr(view_class, "audit_object_type", None) or read.object_type or (match.url_name if match else None)
    object_id = read.object_id if read.object_id is not None else url_object_id
    audit_record(
        actor=getattr(request, "user", None),
        action=getattr(view_class, "audit_action", AuditAction.READ),
        object_type=(object_type or "unknown_url")[:64],
        object_id=None if object_id is None else id_for_audit(object_id),
        patient_id=read.patient_id if read.patient_id is not None else url_patient_id,
        request=request,
        detail=read.detail,
    )


def audit_request_refusal(request: HttpRequest, status: int) -> None:
    match, patient_id, object_id = _url_ids(request)
    audit_record(
        actor=getattr(request, "user", None),
        action=_ACTIONS.get(request.method or "", AuditAction.READ),
        object_type=(match.url_name if match and match.url_name else "unknown_url")[:64],
        object_id=None if object_id is None else id_for_audit(object_id),
        patient_id=patient_id,
        outcome=AuditOutcome.DENIED if status in _DENIED else AuditOutcome.FAILED,
        request=request,
        detail={"status": status, "method": (request.method or "")[:10], "route": match.route[:200] if match else None},
    )

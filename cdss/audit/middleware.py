"""No API request leaves without an audit entry when it was refused or failed.

Views audit what they read and change, and the access module audits each denial it decides.
A request refused or failed anywhere else (not authenticated, a 404 of an unknown report, a
403 of a permission class, a 405, a 429, an unhandled exception) left no trace; this
middleware writes one entry for it when the request wrote none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseBase

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_entries_var, audit_record
from cdss.core.ids import id_for_audit, id_parse

logger = logging.getLogger(__name__)

AUDITED_PREFIXES = ("/api/", "/dicomweb/")
_ACTIONS = {"GET": AuditAction.READ, "HEAD": AuditAction.READ, "OPTIONS": AuditAction.READ,
            "POST": AuditAction.CREATE, "PUT": AuditAction.UPDATE, "PATCH": AuditAction.UPDATE,
            "DELETE": AuditAction.DELETE}
_DENIED = frozenset({401, 403, 404, 405, 429})


class AuditRefusedRequestsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(AUDITED_PREFIXES):
            return self.get_response(request)
        written: list[Any] = []
        token = audit_entries_var.set(written)
        try:
            response = self.get_response(request)
        finally:
            audit_entries_var.reset(token)
        if response.status_code >= 400 and not written:
            try:
                audit_request_refusal(request, response.status_code)
            except DatabaseError:
                logger.warning("could not audit a refused request (database unavailable)")
        return response


def audit_request_refusal(request: HttpRequest, status: int) -> None:
    match = getattr(request, "resolver_match", None)
    kwargs = {k: v for k, v in (match.kwargs if match else {}).items() if k != "route"}
    object_id = next((v for k, v in reversed(kwargs.items()) if k.endswith("_id") or k in ("study", "series")), None)
    audit_record(
        actor=getattr(request, "user", None),
        action=_ACTIONS.get(request.method or "", AuditAction.READ),
        object_type=(match.url_name if match and match.url_name else "unknown_url")[:64],
        object_id=None if object_id is None else id_for_audit(object_id),
        patient_id=id_parse(kwargs.get("patient_id")),
        outcome=AuditOutcome.DENIED if status in _DENIED else AuditOutcome.FAILED,
        request=request,
        detail={"status": status, "method": (request.method or "")[:10], "route": match.route[:200] if match else None},
    )

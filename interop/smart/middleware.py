"""A session opened by a SMART launch reaches the launched patient and nothing of another.

Applied on top of the user's own rights (``patients.access``), which every view still checks:
this only narrows. Each URL is resolved; its patient is read from the URL's own ids (patient,
report, analysis, finding, consultation, thread, study UID) and compared with the launched
patient. Directory listings across patients are refused in such a session. Refusals are
403 with code ``ehr_context_restricted`` and audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from interop.smart.context import OWNER_LOOKUPS, launched_patient_id, owner_patient_id

# Portal pages (client-side routes) and what their second path segment is.
_PORTAL = re.compile(r"^/(patients|reports|studies|consultations)/([^/?#]+)")
_PORTAL_KIND = {"patients": "patient_id", "reports": "report_id", "studies": "study", "consultations": "consultation_id"}
# Listings that span patients.
_DIRECTORIES = {"/api/v1/patients/", "/patients", "/patients/", "/api/v1/audit/", "/audit", "/dicomweb/studies"}


def _targets(request: HttpRequest) -> list[tuple[str, Any]]:
    path = request.path_info
    # A list filtered by patient (``?patient=``) reads that patient.
    found: list[tuple[str, Any]] = [("patient_id", request.GET["patient"])] if request.GET.get("patient") else []
    portal = _PORTAL.match(path)
    if portal and not path.startswith("/api/"):
        return [*found, (_PORTAL_KIND[portal.group(1)], portal.group(2))]
    try:
        match = resolve(path)
    except Resolver404:
        return found
    return [*found, *((name, value) for name, value in match.kwargs.items() if name == "patient_id" or name in OWNER_LOOKUPS)]


class EhrContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        patient_id = launched_patient_id(request)
        if patient_id is None or not getattr(request, "user", None) or not request.user.is_authenticated:
            return self.get_response(request)
        refused = request.path_info in _DIRECTORIES and request.method == "GET"
        for kind, value in ([] if refused else _targets(request)):
            owner = owner_patient_id(kind, value)
            if owner is not None and owner is not False and owner != patient_id:
                refused = True
                break
        if not refused:
            return self.get_response(request)
        audit_record(
            actor=request.user, action=AuditAction.READ, object_type="ehr_context", object_id=request.path_info[:128],
            patient_id=patient_id, outcome=AuditOutcome.DENIED, request=request, detail={"reason": "outside launched patient"},
        )
        message = "This session was opened from the EHR for one patient only."
        if not request.path_info.startswith(("/api/", "/dicomweb/", "/fhir/")):
            page = HttpResponse(
                f"<!doctype html><html lang=en><title>Not available</title><main><h1>Not available</h1><p>{message}</p>"
                f'<p><a href="/patients/{patient_id}">Back to the patient opened from the EHR</a></p></main></html>', status=403,
            )
            page.cdss_error = True  # type: ignore[attr-defined]  # a page of its own, kept as it is
            return page
        return JsonResponse({"code": "ehr_context_restricted", "message": message, "detail": {"patient_id": patient_id}}, status=403)

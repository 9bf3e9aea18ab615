"""CDS Hooks endpoints: discovery and the patient-view service. Every call is audited."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import CdssError
from interop.cds.auth import hook_caller_verify
from interop.cds.definitions import HOOKS, SERVICE_ID, discovery
from interop.cds.service import InvalidHookRequest, hook_request_parse, order_select, patient_view
from interop.registry import registration_for_iss

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
}


def cors_json(body: Any, status: int = 200) -> JsonResponse:
    """A JSON answer an EHR's browser may read from another origin (CDS Hooks asks for CORS)."""
    response = JsonResponse(body, status=status)
    for name, value in CORS.items():
        response[name] = value
    return response


def _error(exc: CdssError) -> JsonResponse:
    return cors_json(exc.as_dict(), status=exc.status_code)


def _service_preflight(request: HttpRequest, service_id: str) -> JsonResponse | None:
    """The answer before a service's POST is looked at: CORS preflight, unknown service, wrong method."""
    if request.method == "OPTIONS":
        return cors_json({})
    if service_id not in HOOKS:
        return cors_json({"code": "not_found", "message": "No such CDS service.", "detail": None}, status=404)
    if request.method != "POST":
        return cors_json({"code": "method_not_allowed", "message": "POST only.", "detail": None}, status=405)
    return None


def _caller_verify(request: HttpRequest) -> Any:
    """The EHR registration that signed the call's JWT, or None when JWTs are not required."""
    if not settings.INTEROP_CDS_REQUIRE_JWT:
        return None
    return hook_caller_verify(request.headers.get("Authorization"), audience=request.build_absolute_uri(request.path))


def _body_json(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except ValueError as exc:
        raise InvalidHookRequest("The request body is not JSON.", detail={"field": "body"}) from exc


@csrf_exempt
def services(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return cors_json({})
    if request.method != "GET":
        return cors_json({"code": "method_not_allowed", "message": "GET only.", "detail": None}, status=405)
    audit_record(actor=None, action=AuditAction.READ, object_type="cds_discovery", request=request)
    return cors_json(discovery())


@csrf_exempt
def service(request: HttpRequest, service_id: str) -> HttpResponse:
    refused = _service_preflight(request, service_id)
    if refused is not None:
        return refused
    started = time.perf_counter()
    detail: dict[str, Any] = {"service": service_id}
    patient_id = None
    actor = None
    try:
        registration = _caller_verify(request)
        call = hook_request_parse(_body_json(request), service_id=service_id)
        detail["hookInstance"] = call.hook_instance
        server_registration = registration_for_iss(call.fhir_server)
        if registration is None:
            registration = server_registration
        elif call.fhir_server and server_registration != registration:
            raise InvalidHookRequest("fhirServer is not the signing EHR's FHIR server.", detail={"field": "fhirServer"})
        run = patient_view if service_id == SERVICE_ID else order_select
        outcome = run(call=call, registration=registration, base_url=request.build_absolute_uri("/"))
    except CdssError as exc:
        detail.update(code=exc.code)
        audit_record(actor=None, action=AuditAction.READ, object_type="cds_hook", object_id=detail.get("hookInstance", ""),
                     outcome=AuditOutcome.DENIED if exc.status_code in (401, 403) else AuditOutcome.FAILED, request=request, detail=detail)
        return _error(exc)
    actor = outcome.user
    patient_id = outcome.local_patient.pk if outcome.local_patient else None
    detail.update(cards=len(outcome.cards), fetched=outcome.fetched, ms=round((time.perf_counter() - started) * 1000, 1),
                  ehr=registration.pk if registration else None)
    audit_record(actor=actor, action=AuditAction.READ, object_type="cds_hook", object_id=call.hook_instance,
                 patient_id=patient_id, request=request, detail=detail)
    return cors_json({"cards": outcome.cards})


@csrf_exempt
def feedback(request: HttpRequest, service_id: str) -> HttpResponse:
    """CDS Hooks 2.0 feedback: what the clinician did with each card, kept in the audit trail."""
    refused = _service_preflight(request, service_id)
    if refused is not None:
        return refused
    try:
        _caller_verify(request)
        body = _body_json(request)
        items = body.get("feedback") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("card"), str) and i.get("outcome") in ("accepted", "overridden") for i in items
        ):
            raise InvalidHookRequest("feedback must list {card, outcome: accepted|overridden}.", detail={"field": "feedback"})
    except CdssError as exc:
        return _error(exc)
    for item in items:
        audit_record(actor=None, action=AuditAction.CREATE, object_type="cds_feedback", object_id=str(item["card"])[:128],
                     request=request, detail={"service": service_id, "outcome": item["outcome"],
                                              "accepted": [str(s.get("id", ""))[:64] for s in item.get("acceptedSuggestions") or [] if isinstance(s, dict)],
                                              "override": (item.get("overrideReason") or {}).get("reason", {}).get("code", "")
                                              if isinstance(item.get("overrideReason"), dict) and isinstance(item["overrideReason"].get("reason"), dict) else ""})
    return cors_json({})

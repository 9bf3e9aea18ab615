"""SMART App Launch endpoints: launch (EHR and standalone), the redirect, and the context.

After the token exchange the launch's ``fhirUser`` is mapped to a local account
(``EhrUserLink``) and the launched patient to a local record (MRN under the registration's
identifier system). The user must already be allowed to see that patient; the session is then
narrowed to it (``interop.smart.middleware``) and the portal opens on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET

from cdss.accounts.services import account_is_locked
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import CdssError
from inference.models import Report
from interop.ehr_data import resources_of
from interop.models import EhrRegistration
from interop.registry import local_patient_for, local_user_for, registration_for_iss, visible_patient
from interop.smart.client import (
    LaunchFailed,
    authorization_url,
    ehr_patient,
    id_token_claims,
    smart_configuration,
    token_exchange,
)
from interop.smart.context import SESSION_KEY, launch_context

PENDING_KEY = "interop.smart.pending"


def _page(status: int, title: str, message: str) -> HttpResponse:
    response = HttpResponse(
        f"<!doctype html><html lang=en><title>{escape(title)}</title><main><h1>{escape(title)}</h1>"
        f"<p>{escape(message)}</p></main></html>", status=status,
    )
    response.cdss_error = True  # type: ignore[attr-defined]  # a page of its own, kept as it is
    return response


def _redirect_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("smart-callback"))


@require_GET
def launch(request: HttpRequest) -> HttpResponse:
    iss = request.GET.get("iss", "")
    registration = registration_for_iss(iss)
    if registration is None:
        audit_record(actor=None, action=AuditAction.LOGIN, object_type="smart_launch", outcome=AuditOutcome.DENIED,
                     request=request, detail={"reason": "unregistered iss"})
        return _page(400, "Launch refused", "This EHR is not registered with the decision-support service.")
    try:
        config = smart_configuration(registration.iss)
        url, state, verifier = authorization_url(
            registration=registration, config=config, redirect_uri=_redirect_uri(request), launch=request.GET.get("launch") or None,
        )
    except LaunchFailed as exc:
        return _page(502, "Launch failed", exc.message)
    pending = dict(request.session.get(PENDING_KEY) or {})
    pending = dict(list(pending.items())[-4:])  # a few launches in flight at most
    pending[state] = {"registration": registration.pk, "verifier": verifier}
    request.session[PENDING_KEY] = pending
    return HttpResponseRedirect(url)


def _name(resource: dict[str, Any]) -> str:
    for name in resource.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        if any(parts):
            return " ".join(p for p in parts if p)
    return ""


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    pending = dict(request.session.get(PENDING_KEY) or {})
    entry = pending.pop(state, None)
    request.session[PENDING_KEY] = pending
    if entry is None:
        return _page(400, "Launch refused", "This sign-in did not start here or has already been used.")
    if request.GET.get("error") or not request.GET.get("code"):
        return _page(400, "Launch refused", "The EHR did not authorise the launch.")
    registration = EhrRegistration.objects.get(pk=entry["registration"])
    try:
        config = smart_configuration(registration.iss)
        token = token_exchange(registration=registration, config=config, redirect_uri=_redirect_uri(request),
                               code=request.GET["code"], verifier=entry["verifier"])
        ehr_patient_id = token.get("patient")
        if not isinstance(ehr_patient_id, str) or not ehr_patient_id:
            raise LaunchFailed("The EHR gave no patient context.")
        if not isinstance(token.get("id_token"), str):
            raise LaunchFailed("The EHR gave no id_token (scope openid fhirUser).")
        claims = id_token_claims(registration=registration, config=config, id_token=token["id_token"])
        resource = ehr_patient(iss=registration.iss, patient_id=ehr_patient_id, access_token=str(token["access_token"]))
        resources_of(resource, path="Patient")
    except CdssError as exc:
        audit_record(actor=None, action=AuditAction.LOGIN, object_type="smart_launch", outcome=AuditOutcome.FAILED,
                     request=request, detail={"ehr": registration.pk, "code": exc.code})
        return _page(exc.status_code if exc.status_code < 500 else 502, "Launch failed", exc.message)
    user = local_user_for(registration, claims.get("fhirUser"))
    if user is not None and account_is_locked(user):
        user = None
    if user is None:
        audit_record(actor=None, action=AuditAction.LOGIN, object_type="smart_launch", outcome=AuditOutcome.DENIED,
                     request=request, detail={"ehr": registration.pk, "reason": "unmapped user"})
        return _page(403, "Launch refused", "Your EHR account is not linked to an account of the decision-support service.")
    mrn = next((str(i.get("value")) for i in resource.get("identifier") or [] if i.get("system") == registration.mrn_system and i.get("value")), None)
    patient = visible_patient(user, local_patient_for(registration, mrn))
    if patient is None:
        audit_record(actor=user, action=AuditAction.LOGIN, object_type="smart_launch", outcome=AuditOutcome.DENIED,
                     request=request, detail={"ehr": registration.pk, "reason": "patient not matched or not visible"})
        return _page(404, "Patient not available", "The launched patient has no record here that you may see.")
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
    request.session[SESSION_KEY] = {
        "patient_id": patient.pk, "ehr": registration.pk, "ehr_name": registration.name,
        "ehr_patient": f"Patient/{ehr_patient_id}", "ehr_patient_name": _name(resource), "ehr_mrn": mrn,
    }
    audit_record(actor=user, action=AuditAction.LOGIN, object_type="smart_launch", object_id=patient.pk,
                 patient_id=patient.pk, request=request, detail={"ehr": registration.pk})
    return HttpResponseRedirect(_landing(token.get("appContext"), patient.pk))


def _landing(app_context: Any, patient_id: int) -> str:
    """Where the portal opens: the patient, or the report a card's SMART link named
    (``appContext`` "patient=<id>&report=<id>", passed on by the EHR) when it is this patient's."""
    if isinstance(app_context, str):
        values = parse_qs(app_context)
        report = (values.get("report") or [""])[0]
        if report.isdigit() and Report.objects.filter(pk=int(report), patient_id=patient_id).exists():
            return f"/reports/{int(report)}"
    return f"/patients/{patient_id}"


@require_GET
def context(request: HttpRequest) -> JsonResponse:
    """The portal's banner reads this: is the session linked to an EHR patient, and which."""
    value = launch_context(request) if request.user.is_authenticated else None
    if value is None:
        return JsonResponse({"linked": False})
    return JsonResponse({
        "linked": True, "patient_id": value["patient_id"], "ehr_name": value.get("ehr_name", ""),
        "ehr_patient": value.get("ehr_patient", ""), "ehr_patient_name": value.get("ehr_patient_name", ""),
        "ehr_mrn": value.get("ehr_mrn") or "",
    })

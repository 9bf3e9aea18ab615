"""The ``patient-view`` and ``order-select`` services: request checks, prefetch or fetch, cards, audit.

Patients are matched to local records by identifier: the EHR Patient's identifier under the
registration's ``mrn_system`` equals a local MRN. Local material (AI findings, signed reports,
clinician-stated findings) is used only when the hook's ``userId`` maps to a local account
that may see the matched patient under the usual access rules; scores from the EHR's own
laboratory results are shown to any registered EHR.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.utils import timezone

from cdss.core.errors import CdssError, ValidationFailed
from imaging.models import ImagingStudy
from inference.models import FindingStatus, ReportStatus
from inference.risk.scores.registry import scores_evaluate
from inference.selectors import findings_for_user, reports_for_user
from interop.cds import cards
from interop.cds.definitions import HOOKS, SERVICE_ID, TEMPLATES
from interop.ehr_data import (
    SURVEILLANCE_MODALITIES,
    EhrPatientData,
    at_risk_conditions,
    ehr_patient_data,
    resources_of,
)
from interop.models import EhrRegistration
from interop.registry import local_patient_for, local_user_for, visible_patient
from patients.models import Patient
from patients.record_kinds import FINDINGS
from patients.selectors.records import record_latest

SCORES = ("meld_3", "child_pugh", "albi")
SURVEILLANCE_INTERVAL = dt.timedelta(days=183)
_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")


class InvalidHookRequest(ValidationFailed):
    code = "invalid_hook_request"


class PrefetchUnavailable(CdssError):
    """Neither prefetched nor fetchable: the CDS Hooks 412 answer."""

    code = "prefetch_unavailable"
    status_code = 412


@dataclass
class HookCall:
    hook_instance: str
    user_id: str
    patient_id: str
    fhir_server: str | None
    access_token: str | None
    prefetch: dict[str, Any]
    service_id: str = SERVICE_ID
    context: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)


def hook_request_parse(body: Any, *, service_id: str = SERVICE_ID) -> HookCall:
    if not isinstance(body, dict):
        raise InvalidHookRequest("The request body must be a JSON object.", detail={"field": "body"})
    if body.get("hook") != HOOKS[service_id]:
        raise InvalidHookRequest(f"This service answers the {HOOKS[service_id]} hook.", detail={"field": "hook"})
    instance = body.get("hookInstance")
    try:
        uuid.UUID(str(instance))
    except ValueError as exc:
        raise InvalidHookRequest("hookInstance must be a UUID.", detail={"field": "hookInstance"}) from exc
    context = body.get("context")
    if not isinstance(context, dict):
        raise InvalidHookRequest("context is required.", detail={"field": "context"})
    for name in ("userId", "patientId"):
        if not isinstance(context.get(name), str) or not context[name]:
            raise InvalidHookRequest(f"context.{name} is required.", detail={"field": f"context.{name}"})
    if "/" in context["patientId"]:
        raise InvalidHookRequest("context.patientId is a FHIR id, not a reference.", detail={"field": "context.patientId"})
    server = body.get("fhirServer")
    if server is not None and (not isinstance(server, str) or not server.startswith(("https://", "http://"))):
        raise InvalidHookRequest("fhirServer must be an absolute URL.", detail={"field": "fhirServer"})
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str) or auth.get("token_type") != "Bearer":
            raise InvalidHookRequest("fhirAuthorization needs access_token and token_type Bearer.", detail={"field": "fhirAuthorization"})
        token = auth["access_token"]
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise InvalidHookRequest("prefetch must be an object.", detail={"field": "prefetch"})
    return HookCall(str(instance), context["userId"], context["patientId"], server, token, prefetch, service_id, context)


def _render(template: str, call: HookCall) -> str:
    values = {"patientId": call.patient_id, "userId": call.user_id}
    return _TOKEN.sub(lambda m: values.get(m.group(1), ""), template)


def _fetch(call: HookCall, key: str, registration: EhrRegistration | None) -> Any:
    """One prefetch item read from the EHR's FHIR server with the access token it gave."""
    if not call.fhir_server or not call.access_token:
        raise PrefetchUnavailable(f"prefetch.{key} is missing and no fhirServer with fhirAuthorization was given.", detail={"field": f"prefetch.{key}"})
    if registration is None or registration.iss.rstrip("/") != call.fhir_server.rstrip("/"):
        raise PrefetchUnavailable("fhirServer is not a registered EHR; data is fetched only from one.", detail={"field": "fhirServer"})
    url = urljoin(call.fhir_server.rstrip("/") + "/", _render(TEMPLATES[call.service_id][key], call))
    try:
        response = requests.get(
            url, timeout=settings.INTEROP_EHR_TIMEOUT_S, allow_redirects=False,
            headers={"Authorization": f"Bearer {call.access_token}", "Accept": "application/fhir+json"},
        )
    except requests.RequestException as exc:
        raise PrefetchUnavailable(f"The FHIR server did not answer for {key}.", detail={"field": f"prefetch.{key}"}) from exc
    if response.status_code == 404 and key == "patient":
        return None
    if response.status_code != 200:
        raise PrefetchUnavailable(
            f"The FHIR server answered {response.status_code} for {key}.", detail={"field": f"prefetch.{key}", "status": response.status_code}
        )
    try:
        return response.json()
    except ValueError as exc:
        raise PrefetchUnavailable(f"The FHIR server sent no JSON for {key}.", detail={"field": f"prefetch.{key}"}) from exc


def _item(call: HookCall, key: str, registration: EhrRegistration | None) -> Any:
    if key in call.prefetch:
        return call.prefetch[key]  # null: the EHR looked and found nothing
    call.fetched.append(key)
    return _fetch(call, key, registration)


@dataclass
class HookOutcome:
    cards: list[dict[str, Any]]
    local_patient: Patient | None
    user: Any
    fetched: list[str]


_LOCAL_FIELDS = ("ascites", "encephalopathy", "dialysis_twice_past_week", "known_cirrhosis")


def _local_findings(patient: Patient) -> dict[str, Any]:
    """The latest stated value of each clinician finding the hook uses, inside the scores'
    look-back window (as ``inference.risk.patient_scores`` reads them), with its date."""
    today = timezone.localdate()
    since = today - dt.timedelta(days=settings.SCORES_LOOKBACK_DAYS)
    latest = record_latest(FINDINGS, patient=patient, since=since, until=today)
    stated = {name: latest[name] for name in _LOCAL_FIELDS if latest.get(name) is not None}
    values: dict[str, Any] = {name: v.value for name, v in stated.items() if v is not None}
    dates = {name: v.date.isoformat() for name, v in stated.items() if v is not None}
    context = {"known_cirrhosis": values.pop("known_cirrhosis")} if "known_cirrhosis" in values else {}
    return {"findings": values, "dates": dates, "context": context}


def _with_local_findings(result: dict[str, Any], dates: dict[str, str]) -> dict[str, Any]:
    for item in result.get("inputs_used") or []:
        if item.get("date") is None and item.get("name") in dates:
            item["date"] = dates[item["name"]]
    return result


def patient_view(*, call: HookCall, registration: EhrRegistration | None, base_url: str) -> HookOutcome:
    data: EhrPatientData = ehr_patient_data(
        patient=_item(call, "patient", registration),
        observations=_item(call, "liverLabs", registration),
        conditions=_item(call, "conditions", registration),
        imaging=_item(call, "imaging", registration),
    )
    user = local_user_for(registration, call.user_id) if registration else None
    matched = local_patient_for(registration, data.mrn(registration.mrn_system)) if registration else None
    patient = visible_patient(user, matched)
    today = timezone.localdate()
    findings: dict[str, Any] = {}
    finding_dates: dict[str, str] = {}
    local_context: dict[str, Any] = {}
    if patient is not None:
        local = _local_findings(patient)
        findings = local["findings"]
        finding_dates, local_context = local["dates"], local["context"]
    body = {"patient": data.age_and_sex(today), "observations": data.observations, "findings": findings, "scores": list(SCORES)}
    origin = "EHR laboratory results" + (", clinical findings from the CDSS record" if findings else "")
    response = scores_evaluate(body)
    result_cards = [
        cards.score_card(sid, _with_local_findings(response["scores"][sid], finding_dates), base_url=base_url, origin=origin, ehr_patient_id=call.patient_id)
        for sid in SCORES
    ]
    reasons = [c["text"] for c in data.at_risk_conditions]
    if local_context.get("known_cirrhosis") is True and not any(c["kind"] == "cirrhosis" for c in data.at_risk_conditions):
        reasons.append("known cirrhosis (CDSS record)")
    if reasons:
        imaging_dates = list(data.liver_imaging_dates)
        if patient is not None:
            for study_date, modalities in ImagingStudy.objects.filter(patient=patient, study_date__isnull=False).values_list("study_date", "modalities"):
                if study_date is not None and set(modalities.split(",")) & SURVEILLANCE_MODALITIES:
                    imaging_dates.append(study_date)
        last = max(imaging_dates, default=None)
        if last is None or today - last > SURVEILLANCE_INTERVAL:
            result_cards.append(cards.surveillance_card(
                reasons=reasons, last_imaging=last.isoformat() if last else None, ehr_patient_id=call.patient_id, base_url=base_url,
            ))
    if patient is not None:
        result_cards.extend(_local_cards(user, patient, base_url))
    return HookOutcome(result_cards, patient, user, call.fetched)


def _local_cards(user: Any, patient: Patient, base_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pending = findings_for_user(user).filter(patient=patient, status=FindingStatus.PROPOSED)
    count = pending.count()
    if count:
        models = sorted({f"{key} {version}".strip() for key, version in pending.values_list("model_key", "model_version") if key})
        out.append(cards.findings_card(count=count, models=models, local_patient_id=patient.pk, base_url=base_url))
    report = reports_for_user(user).filter(patient=patient, status=ReportStatus.FINAL).order_by("-version").first()
    if report is not None and report.signed_at is not None:
        out.append(cards.report_card(
            version=report.version, signed_on=report.signed_at.date().isoformat(), local_patient_id=patient.pk,
            report_id=report.pk, base_url=base_url,
        ))
    return out


# What marks a selected order as a liver or abdominal CT or MRI: its code's text or displays.
_CT_MR = re.compile(r"\b(CT|computed tomograph\w*|MRI?|magnetic resonance)\b", re.IGNORECASE)
_LIVER = re.compile(r"\b(abdom\w*|liver|hepat\w*)\b", re.IGNORECASE)


def _selected_imaging_orders(call: HookCall) -> list[dict[str, Any]]:
    selections = call.context.get("selections")
    draft = call.context.get("draftOrders")
    if not isinstance(selections, list) or not all(isinstance(x, str) for x in selections):
        raise InvalidHookRequest("context.selections must list resource references.", detail={"field": "context.selections"})
    resources = resources_of(draft, path="context.draftOrders")
    chosen = [r for r in resources if f"{r.get('resourceType')}/{r.get('id')}" in selections]
    orders = []
    for order in chosen:
        if order.get("resourceType") != "ServiceRequest":
            continue
        code = order.get("code") or {}
        words = " ".join([str(code.get("text") or ""), *(str(c.get("display") or "") for c in code.get("coding") or [] if isinstance(c, dict))])
        if _CT_MR.search(words) and _LIVER.search(words):
            orders.append(order)
    return orders


def order_select(*, call: HookCall, registration: EhrRegistration | None, base_url: str) -> HookOutcome:
    orders = _selected_imaging_orders(call)
    if not orders:
        return HookOutcome([], None, None, call.fetched)
    conditions = at_risk_conditions(resources_of(_item(call, "conditions", registration), path="prefetch.conditions"))
    if not conditions:
        return HookOutcome([], None, None, call.fetched)
    return HookOutcome([cards.protocol_card(reasons=[c["text"] for c in conditions], base_url=base_url)], None, None, call.fetched)

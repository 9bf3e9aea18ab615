"""The read-only FHIR R4 API: ``/fhir/metadata``, read ``/fhir/<Type>/<id>`` and search
``/fhir/<Type>?patient=&date=``. Same access rules as the REST API, narrowed by SMART scopes
for a bearer token and by the launched patient for a SMART-launched session. Every answer is
audited; a refusal is a FHIR OperationOutcome (401, 403, 404 like a missing resource)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from cdss.accounts.authentication import ExpiringTokenAuthentication, SessionAuthentication
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_note
from cdss.audit.services import audit_record
from consultations.models import Opinion
from imaging.models import ImagingStudy
from inference.models import SIGNED_STATUSES, Report
from inference.selectors import reports_for_user
from interop.fhir import resources as fr
from interop.fhir.auth import SmartBearerAuthentication, scope_grant
from interop.models import FhirApiToken
from interop.smart.context import launched_patient_id
from patients.access import patients_for_user, study_scope_q

FHIR_JSON = "application/fhir+json"
TYPES = ("DiagnosticReport", "RiskAssessment", "Observation", "ImagingStudy", "Communication")
# The date search parameter of each type, and the column it reads.
DATE_PARAM = {"DiagnosticReport": "date", "RiskAssessment": "date", "Observation": "date", "ImagingStudy": "started", "Communication": "sent"}
_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le)?(\d{4}-\d{2}-\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$")
MAX_RESULTS = 500


class FhirError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _response(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type=FHIR_JSON)


class FhirView(APIView):
    # FHIR has its own contract (the CapabilityStatement), not the REST API's OpenAPI schema.
    schema = None
    authentication_classes = [SmartBearerAuthentication, ExpiringTokenAuthentication, SessionAuthentication]

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, FhirError):
            return _response(fr.operation_outcome(exc.code, exc.message), exc.status)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response = _response(fr.operation_outcome("login", str(exc.detail)), 401)
            response["WWW-Authenticate"] = 'Bearer realm="fhir"'
            return response
        if isinstance(exc, exceptions.APIException):
            return _response(fr.operation_outcome("processing", str(exc.detail)), exc.status_code)
        return super().handle_exception(exc)


class Metadata(FhirView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get(self, request: Request) -> HttpResponse:
        base = request.build_absolute_uri("/fhir/")
        return _response(fr.validated({
            "resourceType": "CapabilityStatement", "status": "active", "date": dt.date.today().isoformat(),
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
            "software": {"name": "CDSS liver decision support"},
            "implementation": {"description": "Read-only FHIR R4 API of the CDSS", "url": base},
            "rest": [{
                "mode": "server",
                "security": {
                    "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}]}],
                    "description": "Bearer tokens with SMART scopes (patient/*.read, user/*.read; v2 .rs).",
                },
                "resource": [{
                    "type": t, "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{"name": "patient", "type": "reference"}, {"name": DATE_PARAM[t], "type": "date"}],
                } for t in TYPES],
            }],
        }))


def _date_q(values: list[str], column: str, *, is_date: bool) -> Q:
    q = Q()
    for value in values:
        match = _DATE.match(value)
        if not match:
            raise FhirError(400, "invalid", f"Unsupported date value: {value[:40]}")
        prefix = match.group(1) or "eq"
        day = dt.date.fromisoformat(match.group(2))
        lookup = column if is_date else f"{column}__date"
        if prefix == "eq":
            q &= Q(**{lookup: day})
        elif prefix == "ne":
            q &= ~Q(**{lookup: day})
        else:
            q &= Q(**{f"{lookup}__{ {'gt': 'gt', 'lt': 'lt', 'ge': 'gte', 'le': 'lte'}[prefix]}": day})
    return q


class _Access:
    """Which patients this request may read, for a resource type, and why not."""

    def __init__(self, request: Request, resource_type: str) -> None:
        user = request.user
        patients = patients_for_user(user)
        token = request.auth if isinstance(request.auth, FhirApiToken) else None
        if token is not None:
            allowed, patient_only = scope_grant(token.scope).allows(resource_type, search=True)
            if not allowed:
                raise FhirError(403, "forbidden", f"The token's scopes do not allow reading {resource_type}.")
            if patient_only:
                patients = patients.filter(pk=token.patient_id) if token.patient_id else patients.none()
        launched = launched_patient_id(request._request)
        if launched is not None:
            patients = patients.filter(pk=launched)
        self.user = user
        self.patient_ids = set(patients.values_list("pk", flat=True))


def _patient_filter(request: Request) -> int | None:
    value = request.query_params.get("patient") or request.query_params.get("subject")
    if value is None:
        return None
    value = value.removeprefix("Patient/")
    if not value.isdigit():
        raise FhirError(400, "invalid", "patient must be a Patient id.")
    return int(value)


def _reports(access: _Access, request: Request, resource_type: str) -> QuerySet[Report]:
    reports = reports_for_user(access.user).filter(status__in=SIGNED_STATUSES, patient_id__in=access.patient_ids)
    if (pid := _patient_filter(request)) is not None:
        reports = reports.filter(patient_id=pid)
    dates = request.query_params.getlist("date")
    return reports.filter(_date_q(dates, "signed_at", is_date=False)).order_by("-signed_at")


def _search(resource_type: str, access: _Access, request: Request) -> list[dict[str, Any]]:
    if resource_type in ("DiagnosticReport", "RiskAssessment", "Observation"):
        reports = list(_reports(access, request, resource_type)[:MAX_RESULTS])
        if resource_type == "DiagnosticReport":
            return [fr.diagnostic_report(r) for r in reports]
        if resource_type == "RiskAssessment":
            return [fr.risk_assessment(r) for r in reports]
        return [o for r in reports for o in fr.score_observations(r)]
    if resource_type == "ImagingStudy":
        studies = ImagingStudy.objects.filter(patient_id__in=access.patient_ids).filter(study_scope_q(access.user)).prefetch_related("series")
        if (pid := _patient_filter(request)) is not None:
            studies = studies.filter(patient_id=pid)
        studies = studies.filter(_date_q(request.query_params.getlist("started") + request.query_params.getlist("date"), "study_date", is_date=True))
        return [fr.imaging_study(s) for s in studies.order_by("-study_date", "-id")[:MAX_RESULTS]]
    opinions = Opinion.objects.filter(patient_id__in=access.patient_ids).select_related("author")
    if (pid := _patient_filter(request)) is not None:
        opinions = opinions.filter(patient_id=pid)
    opinions = opinions.filter(_date_q(request.query_params.getlist("sent") + request.query_params.getlist("date"), "signed_at", is_date=False))
    return [fr.communication(o) for o in opinions.order_by("-signed_at")[:MAX_RESULTS]]


_READ_ID = {
    "DiagnosticReport": re.compile(r"^r(\d+)$"), "RiskAssessment": re.compile(r"^r(\d+)-risk$"),
    "Observation": re.compile(r"^r(\d+)-[a-z0-9-]+$"), "ImagingStudy": re.compile(r"^(\d+)$"), "Communication": re.compile(r"^op(\d+)$"),
}


def _read(resource_type: str, resource_id: str, access: _Access) -> dict[str, Any] | None:
    match = _READ_ID[resource_type].match(resource_id)
    if not match:
        return None
    pk = int(match.group(1))
    if resource_type in ("DiagnosticReport", "RiskAssessment", "Observation"):
        report = reports_for_user(access.user).filter(pk=pk, status__in=SIGNED_STATUSES, patient_id__in=access.patient_ids).first()
        if report is None:
            return None
        builders: dict[str, Callable[[Report], Any]] = {"DiagnosticReport": fr.diagnostic_report, "RiskAssessment": fr.risk_assessment}
        if resource_type in builders:
            return dict(builders[resource_type](report))
        return next((o for o in fr.score_observations(report) if o["id"] == resource_id), None)
    if resource_type == "ImagingStudy":
        study = ImagingStudy.objects.filter(pk=pk, patient_id__in=access.patient_ids).filter(study_scope_q(access.user)).first()
        return fr.imaging_study(study) if study else None
    opinions = Opinion.objects.filter(pk=pk, patient_id__in=access.patient_ids)
    opinion = opinions.select_related("author").first()
    return fr.communication(opinion) if opinion else None


def _audit_denied(request: Request, resource_type: str, resource_id: str) -> None:
    audit_record(actor=request.user, action=AuditAction.READ, object_type=f"fhir:{resource_type}",
                 object_id=resource_id[:128], outcome=AuditOutcome.DENIED, request=request)


class Search(FhirView):
    def get(self, request: Request, resource_type: str) -> HttpResponse:
        if resource_type not in TYPES:
            raise FhirError(404, "not-supported", f"{resource_type} is not served here.")
        access = _Access(request, resource_type)
        results = _search(resource_type, access, request)
        patient = _patient_filter(request)
        read_audit_note(object_type=f"fhir:{resource_type}", patient_id=patient, search=True, count=len(results))
        return _response(fr.bundle(results, base_url=request.build_absolute_uri("/fhir/")))


class Read(FhirView):
    def get(self, request: Request, resource_type: str, resource_id: str) -> HttpResponse:
        if resource_type not in TYPES:
            raise FhirError(404, "not-supported", f"{resource_type} is not served here.")
        access = _Access(request, resource_type)
        resource = _read(resource_type, resource_id, access)
        if resource is None:
            _audit_denied(request, resource_type, resource_id)
            raise FhirError(404, "not-found", "Resource not found.")
        subject = str((resource.get("subject") or {}).get("reference", "")).removeprefix("Patient/")
        read_audit_note(object_type=f"fhir:{resource_type}", object_id=resource_id,
                        patient_id=int(subject) if subject.isdigit() else None)
        return _response(resource)

"""URLs for ``bench_load.py``: the project's own, plus bare Django views under ``/bare/`` that
serve the JSON of three patient-page calls from the same selectors, access checks and audit
rows, without DRF (no request wrapping, authentication classes, serializers or renderer).

The bare side authenticates with the same API token (one query, as DRF's does, with the same
expiry and lock-out checks) and writes the same audit entry per read; only the framework's own
work differs. The record and the trend answer the API's JSON (``bench_load.py`` compares them
before timing); the report list's bare JSON carries the fields of ``ReportSummarySerializer``
that need no further query (the bench's patients have no reports, so both answer ``[]``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.utils import timezone

from cdss.accounts.services import account_is_locked
from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from inference.selectors import report_versions_for_patient
from patients.access import patient_get_for_user, patient_rows_for_user
from patients.api.serializers import iso_datetime  # the API's own datetime format
from patients.selectors.observations import observation_series


def _user(request: HttpRequest) -> Any:
    # DRF models load only once the app registry is ready.
    from rest_framework.authtoken.models import Token

    header = request.headers.get("Authorization", "")
    key = header.split(" ", 1)[1] if header.startswith("Token ") else ""
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active or account_is_locked(token.user):
        return None
    return token.user if token.created >= timezone.now() - settings.AUTH_TOKEN_TTL else None


def _refused() -> JsonResponse:
    return JsonResponse({"code": "not_authenticated", "message": "Authentication required."}, status=401)


def bare_patient(request: HttpRequest, patient_id: int) -> JsonResponse:
    user = _user(request)
    if user is None:
        return _refused()
    patient = patient_get_for_user(user, patient_id, request=request)
    audit_record(actor=user, action=AuditAction.READ, object_type="patient", object_id=patient.pk,
                 patient_id=patient.pk, request=request)
    row = {"id": patient.pk, "mrn": patient.mrn, "given_name": patient.given_name,
           "family_name": patient.family_name, "birth_date": patient.birth_date.isoformat(),
           "sex": patient.sex, "phone": patient.phone, "email": patient.email,
           "address_line": patient.address_line, "city": patient.city, "postal_code": patient.postal_code,
           "country": patient.country, "care_team": patient.care_team_id, "status": patient.status,
           "created_at": iso_datetime(patient.created_at), "updated_at": iso_datetime(patient.updated_at)}
    return JsonResponse(patient_rows_for_user(user, [patient], [row])[0])


def bare_series(request: HttpRequest, patient_id: int) -> JsonResponse:
    user = _user(request)
    if user is None:
        return _refused()
    patient = patient_get_for_user(user, patient_id, request=request)
    series = observation_series(patient=patient, code=request.GET["code"],
                                unit=request.GET.get("unit") or None, since=None, until=None)
    tz = timezone.get_current_timezone()
    audit_record(actor=user, action=AuditAction.READ, object_type="observation_series", patient_id=patient.pk,
                 request=request, detail={"code": series.analyte.loinc, "count": len(series.points)})
    return JsonResponse({
        "code": series.analyte.loinc, "display_name": series.analyte.display_name, "unit": series.unit,
        "truncated": series.truncated,
        "points": [{"id": p.id, "observed_at": iso_datetime(p.observed_at, tz), "value": p.value,
                    "value_as_entered": p.value_as_entered, "unit_as_entered": p.unit_as_entered,
                    "comparator": p.comparator} for p in series.points],
    })


def bare_reports(request: HttpRequest, patient_id: int) -> JsonResponse:
    user = _user(request)
    if user is None:
        return _refused()
    patient = patient_get_for_user(user, patient_id, request=request)
    reports = report_versions_for_patient(user, patient_id=patient.pk)
    audit_record(actor=user, action=AuditAction.READ, object_type="report_list", patient_id=patient.pk,
                 request=request, detail={"report_ids": [r.pk for r in reports]})
    return JsonResponse([{"id": r.pk, "version": r.version, "status": r.status, "request": r.request_id,
                          "created_at": r.created_at.isoformat(), "content_sha256": r.content_sha256}
                         for r in reports], safe=False)


urlpatterns: list[URLPattern | URLResolver] = [
    path("bare/patients/<int:patient_id>/", bare_patient),
    path("bare/patients/<int:patient_id>/observations/series/", bare_series),
    path("bare/patients/<int:patient_id>/reports/", bare_reports),
    path("", include("cdss.urls")),
]

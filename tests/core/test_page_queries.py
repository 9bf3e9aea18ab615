"""What a clinician's patient page costs in database queries: the record, an analyte's trend
and the report list (the three calls of ``bench/bench_load.py``), each with a real API token.

Each call is at most: the token with its user (one query), the patient through the access
check (one), what the page shows (one, none for the record) and the read's audit entry (one
statement). A query per row (N+1) or a second access check makes these fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cdss.audit.models import AuditEvent
from patients.models import LabObservation
from patients.units import analyte_by_code
from tests.conftest import World

ALT = "1742-6"


def _token_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _observations(world: World, count: int) -> None:
    unit = analyte_by_code(ALT).canonical_unit
    now = timezone.now()
    LabObservation.objects.bulk_create([
        LabObservation(patient=world.patient, code=ALT, value=0.5 + k / 100, unit=unit, value_canonical=0.5 + k / 100,
                       unit_canonical=unit, observed_at=now - dt.timedelta(days=30 * k), specimen="serum",
                       source="import", entered_at=now)
        for k in range(count)
    ])


def _reports(world: World, count: int) -> None:
    from inference.models import AnalysisRequest, Report, ReportStatus
    from inference.reports.content import content_sha256

    now = timezone.now()
    previous = None
    for version in range(1, count + 1):
        analysis = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician,
                                                  idempotency_key=f"page-queries-{version}", status="succeeded")
        content = {"schema": "cdss.report/1", "patient_id": world.patient.pk, "scores": {}, "recommendations": [],
                   "gaps": [], "models": [], "imaging_findings": [], "intended_use": "Supports, does not replace."}
        signed = version < count
        previous = Report.objects.create(
            patient=world.patient, analysis=analysis, version=version, content=content,
            content_sha256=content_sha256(content), created_by=world.clinician, supersedes=previous,
            status=ReportStatus.SUPERSEDED if signed else ReportStatus.DRAFT,
            signed_by=world.clinician if signed else None, signed_at=now if signed else None,
            released_by=world.clinician if signed else None, released_at=now if signed else None,
        )


def test_the_patient_record_is_three_queries(world: World, django_assert_max_num_queries: Any) -> None:
    client = _token_client(world.clinician)
    with django_assert_max_num_queries(3):
        response = client.get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="read", patient_id=world.patient.pk, outcome="success").count() == 1


@pytest.mark.parametrize("points", [1, 120])
def test_a_trend_is_four_queries_whatever_its_length(world: World, django_assert_max_num_queries: Any, points: int) -> None:
    _observations(world, points)
    client = _token_client(world.clinician)
    with django_assert_max_num_queries(4):
        response = client.get(f"/api/v1/patients/{world.patient.pk}/observations/series/", {"code": ALT, "unit": "ukat/L"})
    assert response.status_code == 200
    assert len(response.json()["points"]) == points
    assert AuditEvent.objects.filter(action="read", patient_id=world.patient.pk, outcome="success").count() == 1


@pytest.mark.parametrize("versions", [1, 4])
def test_the_report_list_is_four_queries_whatever_its_length(world: World, django_assert_max_num_queries: Any, versions: int) -> None:
    _reports(world, versions)
    client = _token_client(world.clinician)
    with django_assert_max_num_queries(4):
        response = client.get(f"/api/v1/patients/{world.patient.pk}/reports/")
    assert response.status_code == 200
    rows = response.json()
    assert [row["version"] for row in rows] == list(range(versions, 0, -1))
    assert all(row["requested_by_name"] for row in rows)
    assert AuditEvent.objects.filter(action="read", patient_id=world.patient.pk, outcome="success").count() == 1


def test_a_trend_renders_like_drf_in_another_time_zone(world: World) -> None:
    """The series' times are converted with the time zone looked up once per answer."""
    from rest_framework import serializers as drf

    from patients.api.serializers import SeriesSerializer
    from patients.selectors import observation_series

    _observations(world, 3)
    series = observation_series(patient=world.patient, code=ALT, unit="ukat/L")
    with timezone.override("America/New_York"):
        fast = SeriesSerializer(series)
        rendered = fast.to_representation(series)
        assert rendered == drf.Serializer.to_representation(fast, series)
    assert rendered["points"][0]["observed_at"].endswith(("-05:00", "-04:00"))

"""The read-only FHIR R4 API: resources validate with fhir.resources, search by patient and
date, SMART scopes on bearer tokens, and the REST API's access rules."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from cdss.audit.models import AuditEvent
from interop.fhir.auth import scope_grant, token_hash
from interop.models import FhirApiToken
from tests.conftest import World, client_for
from tests.interop.conftest import signed_report


def _valid(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry") or []:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


@pytest.fixture
def record(world: World) -> dict[str, Any]:
    from consultations.models import Consultation, Opinion
    from imaging.models import ImagingSeries, ImagingStudy

    report = signed_report(world)
    study = ImagingStudy.objects.create(patient=world.patient, study_instance_uid="1.2.826.0.1.3680043.8.498.1",
                                        study_date=dt.date(2026, 10, 1), description="CT abdomen", modalities="CT",
                                        number_of_series=1, number_of_instances=120, link_source="upload")
    ImagingSeries.objects.create(study=study, series_instance_uid="1.2.826.0.1.3680043.8.498.2", modality="CT",
                                 series_number=2, number_of_instances=120)
    ImagingStudy.objects.create(patient=world.other_patient, study_instance_uid="1.2.826.0.1.3680043.8.498.9",
                                study_date=dt.date(2026, 10, 2), modalities="MR", link_source="upload")
    consultation = Consultation.objects.create(patient=world.patient, consultant=world.consultant, requested_by=world.clinician,
                                               question="Resection?", status="closed")
    opinion = Opinion.objects.create(consultation=consultation, patient=world.patient, author=world.consultant,
                                     answer="Resection is reasonable.", recommendations=["MDT review"], urgency="urgent",
                                     signed_at=timezone.now(), content_sha256="0" * 64)
    return {"report": report, "study": study, "opinion": opinion}


def _bearer(world: World, scope: str, *, patient: Any = None, user: Any = None) -> Client:
    raw = secrets.token_urlsafe(16)
    FhirApiToken.objects.create(token_sha256=token_hash(raw), label="t", user=user or world.clinician, scope=scope, patient=patient,
                                expires_at=timezone.now() + dt.timedelta(hours=1))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_capability_statement(db: Any) -> None:
    response = Client().get("/fhir/metadata")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    body = response.json()
    _valid(body)
    assert {r["type"] for r in body["rest"][0]["resource"]} == {
        "DiagnosticReport", "RiskAssessment", "Observation", "ImagingStudy", "Communication"}


@pytest.mark.parametrize("resource_type", ["DiagnosticReport", "RiskAssessment", "Observation", "ImagingStudy", "Communication"])
def test_search_by_patient_returns_valid_resources(world: World, record: dict[str, Any], resource_type: str) -> None:
    client = _bearer(world, "user/*.read")
    response = client.get(f"/fhir/{resource_type}", {"patient": world.patient.pk})
    assert response.status_code == 200, response.content
    bundle = response.json()
    _valid(bundle)
    assert bundle["total"] >= 1
    for entry in bundle["entry"]:
        assert entry["resource"]["subject"]["reference"] == f"Patient/{world.patient.pk}"
        read = client.get(f"/fhir/{resource_type}/{entry['resource']['id']}")
        assert read.status_code == 200
        _valid(read.json())
    assert AuditEvent.objects.filter(object_type=f"fhir:{resource_type}", actor_id=world.clinician.pk).exists()


def test_score_observations_and_report(world: World, record: dict[str, Any]) -> None:
    client = client_for(world.clinician)
    report = record["report"]
    observations = client.get("/fhir/Observation", {"patient": f"Patient/{world.patient.pk}"}).json()["entry"]
    codes = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in observations}
    assert set(codes) == {"meld_3", "child_pugh"}  # ALBI was not computable
    assert codes["meld_3"]["valueQuantity"]["value"] == 19
    assert "supports, not replaces" in codes["meld_3"]["note"][0]["text"]
    diagnostic = client.get(f"/fhir/DiagnosticReport/r{report.pk}").json()
    assert diagnostic["status"] == "final"
    assert {r["reference"] for r in diagnostic["result"]} == {f"Observation/{r['id']}" for r in codes.values()}
    opinion = client.get(f"/fhir/Communication/op{record['opinion'].pk}").json()
    assert opinion["payload"][0]["contentString"] == "Resection is reasonable." and opinion["priority"] == "urgent"


def test_search_by_date(world: World, record: dict[str, Any]) -> None:
    client = client_for(world.clinician)
    assert client.get("/fhir/ImagingStudy", {"started": "ge2026-09-30"}).json()["total"] == 1
    assert client.get("/fhir/ImagingStudy", {"started": "lt2026-09-30"}).json()["total"] == 0
    today = timezone.now().date()
    assert client.get("/fhir/DiagnosticReport", {"date": f"ge{today - dt.timedelta(days=1)}"}).json()["total"] == 1
    assert client.get("/fhir/DiagnosticReport", {"date": f"gt{today + dt.timedelta(days=1)}"}).json()["total"] == 0
    bad = client.get("/fhir/DiagnosticReport", {"date": "yesterday"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_access_rules_match_the_rest_api(world: World, record: dict[str, Any]) -> None:
    report = record["report"]
    other = client_for(world.other_clinician)
    assert other.get(f"/fhir/DiagnosticReport/r{report.pk}").status_code == 404
    assert other.get("/fhir/ImagingStudy", {"patient": world.patient.pk}).json()["total"] == 0
    assert [e["resource"]["subject"]["reference"] for e in other.get("/fhir/ImagingStudy").json()["entry"]] == [
        f"Patient/{world.other_patient.pk}"]
    # The patient: an unreleased signed report is not theirs to read yet.
    assert client_for(world.patient_user).get(f"/fhir/DiagnosticReport/r{report.pk}").status_code == 404
    assert Client().get("/fhir/DiagnosticReport").status_code == 401
    assert AuditEvent.objects.filter(object_type="fhir:DiagnosticReport", outcome="denied").exists()


def test_smart_scopes(world: World, record: dict[str, Any]) -> None:
    patient_scoped = _bearer(world, "patient/*.read", patient=world.patient)
    assert patient_scoped.get("/fhir/ImagingStudy").json()["total"] == 1
    only_reports = _bearer(world, "patient/DiagnosticReport.rs", patient=world.patient)
    assert only_reports.get("/fhir/DiagnosticReport").json()["total"] == 1
    assert only_reports.get("/fhir/ImagingStudy").status_code == 403
    # A patient scope without its patient context reads nothing.
    assert _bearer(world, "patient/*.read").get("/fhir/ImagingStudy").json()["total"] == 0
    # Scopes narrow the account's rights and never widen them.
    assert _bearer(world, "user/*.read", user=world.other_clinician).get(f"/fhir/DiagnosticReport/r{record['report'].pk}").status_code == 404
    expired = FhirApiToken.objects.create(token_sha256=token_hash("old"), label="t", user=world.clinician, scope="user/*.read",
                                          expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert expired.pk and Client(HTTP_AUTHORIZATION="Bearer old").get("/fhir/ImagingStudy").status_code == 401


def test_scope_grammar() -> None:
    grant = scope_grant("launch openid patient/Observation.read user/DiagnosticReport.rs patient/*.cruds")
    assert grant.allows("Observation", search=True) == (True, True)  # patient context only
    assert grant.allows("DiagnosticReport", search=True) == (True, False)
    assert scope_grant("patient/Observation.write").allows("Observation", search=True) == (False, False)


def test_token_command(world: World, capsys: Any) -> None:
    call_command("fhir_token_issue", "--user", world.clinician.username, "--scope", "patient/*.read", "--patient", str(world.patient.pk))
    raw = capsys.readouterr().out.strip()
    assert FhirApiToken.objects.get(token_sha256=token_hash(raw)).patient_id == world.patient.pk


def test_each_fhir_request_leaves_exactly_one_entry(world: World, record: dict[str, Any]) -> None:
    """Reads are written by the audit middleware, refusals where they are decided or by it."""
    client = client_for(world.clinician)
    report = record["report"]

    def one(response: Any) -> AuditEvent:
        (entry,) = AuditEvent.objects.filter(request_id=response["X-Request-ID"])
        return entry

    search = one(client.get("/fhir/DiagnosticReport", {"patient": world.patient.pk}))
    assert (search.action, search.object_type, search.outcome) == ("read", "fhir:DiagnosticReport", "success")
    assert search.patient_id == world.patient.pk and search.detail == {"search": True, "count": 1}
    read = one(client.get(f"/fhir/DiagnosticReport/r{report.pk}"))
    assert (read.object_type, read.object_id, read.patient_id) == ("fhir:DiagnosticReport", f"r{report.pk}", world.patient.pk)
    denied = one(client_for(world.other_clinician).get(f"/fhir/DiagnosticReport/r{report.pk}"))
    assert denied.outcome == "denied"
    unsupported = one(client.get("/fhir/Patient"))
    assert unsupported.outcome == "denied" and unsupported.object_type == "fhir-search"
    assert one(Client().get("/fhir/DiagnosticReport")).outcome == "denied"

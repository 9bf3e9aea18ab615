"""The patient's results API and "download my record": released reports only, explained, audited."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from cdss.audit.models import AuditAction, AuditEvent
from inference.models import Report
from inference.reports.content import content_sha256
from inference.reports.services import report_release, report_sign
from patients.models import GeneticFinding, Patient
from patients.services import observation_record
from tests.conftest import World, client_for


def scores(amap: float, category: str) -> dict[str, Any]:
    return {
        "schema": "cdss.report/1",
        "scores": {
            "amap": {"computable": True, "value": amap, "category": category, "missing": []},
            "meld": {"computable": True, "value": 9, "category": None, "missing": []},
            "galad": {"computable": False, "value": None, "category": None, "missing": ["afp"]},
        },
        "modifiers": [{"factor": "PNPLA3 rs738409 GG", "present": True}],
        "recommendations": [{"id": "hcc-surveillance", "domain": "hcc_risk", "title": "Surveillance", "statement": "US q6m"}],
        "learned_risk": [{"model": "hcv_binary", "probability": 0.4321}],
        "inputs": {"scores_request": {"observations": [{"code": "1742-6", "value": 40, "unit": "U/L", "date": "2026-11-01"}]}},
        "intended_use": "Supports, not replaces, the clinician's judgement.",
    }


def report_make(patient: Patient, content: dict[str, Any]) -> Report:
    version = Report.objects.filter(patient=patient).count() + 1
    return Report.objects.create(patient=patient, version=version, content=content, content_sha256=content_sha256(content))


@pytest.fixture
def reports(world: World) -> dict[str, Report]:
    """v1 signed and released, v2 signed and released (supersedes v1), v3 a draft."""
    first = report_sign(actor=world.clinician, report=report_make(world.patient, scores(55.2, "medium")))
    report_release(actor=world.clinician, report=first)
    second = report_sign(actor=world.clinician, report=report_make(world.patient, scores(71.69, "high")))
    report_release(actor=world.clinician, report=second)
    draft = report_make(world.patient, scores(99.0, "high"))
    return {"first": first, "second": second, "draft": draft}


def test_patient_sees_released_reports_explained_and_never_the_draft(world: World, reports: dict[str, Report]) -> None:
    response = client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/results/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["id"] for r in body["reports"]] == [reports["second"].pk, reports["first"].pk]
    assert body["latest_report"] == reports["second"].pk
    assert reports["draft"].pk not in [r["id"] for r in body["reports"]]
    history_values = [point["value"] for points in body["score_history"].values() for point in points]
    assert 99.0 not in history_values
    amap = next(s for s in body["reports"][0]["explained"]["scores"] if s["score"] == "amap")
    assert amap["band"] == "high" and "does not mean you have cancer" in amap["meaning"] and amap["citation"]
    assert [p["value"] for p in body["score_history"]["amap"]] == [55.2, 71.69]
    assert "galad" not in body["score_history"]
    assert "0.4321" not in response.content.decode()  # a model output is never passed through raw
    assert AuditEvent.objects.filter(object_type="patient_results", actor_id=world.patient_user.pk, action=AuditAction.READ).exists()


def test_a_signed_but_unreleased_report_is_not_shown_to_anyone_here(world: World) -> None:
    report_sign(actor=world.clinician, report=report_make(world.patient, scores(71.69, "high")))
    for user in (world.patient_user, world.clinician):
        body = client_for(user).get(f"/api/v1/patients/{world.patient.pk}/results/").json()
        assert body["reports"] == [] and body["score_history"] == {}


@pytest.mark.parametrize("path", ["results/", "record/fhir/", "record/pdf/"])
def test_another_patient_gets_404_and_the_denial_is_audited(world: World, reports: dict[str, Report], path: str) -> None:
    response = client_for(world.other_patient_user).get(f"/api/v1/patients/{world.patient.pk}/{path}")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(actor_id=world.other_patient_user.pk, patient_id=world.patient.pk, outcome="denied").exists()


def test_labs_and_genetics_are_explained(world: World) -> None:
    observation_record(actor=world.clinician, patient=world.patient,
                       data={"code": "1742-6", "value": 90, "unit": "U/L", "observed_at": "2026-11-20T08:00:00Z"})
    GeneticFinding.objects.create(patient=world.patient, gene="PNPLA3", rsid="rs738409", genotype="G/G", reported_on="2025-01-02")
    body = client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/results/").json()
    alt = body["labs"][0]
    assert alt["analyte"] == "alt" and alt["explanation"]["flag"] == "high" and alt["range"]["high"] == 56
    gene = body["genetics"][0]
    assert gene["genotype"] == "G/G" and gene["explanation"]["copies"] == 2 and "two copies" in gene["explanation"]["meaning"]


def test_fhir_download_is_a_valid_bundle_with_released_reports_only(world: World, reports: dict[str, Report]) -> None:
    response = client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/record/fhir/")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    assert "attachment" in response["Content-Disposition"]
    bundle: Any = Bundle.model_validate_json(response.content)
    kinds = [entry.resource.__resource_type__ for entry in bundle.entry]
    assert kinds[0] == "Patient" and kinds.count("DiagnosticReport") == 2
    patient_url = bundle.entry[0].fullUrl
    diagnostic = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "DiagnosticReport"]
    assert {r.id for r in diagnostic} == {f"r{reports['first'].pk}", f"r{reports['second'].pk}"}
    assert all(r.subject.reference == patient_url for r in diagnostic)
    event = AuditEvent.objects.get(object_type="patient_record", actor_id=world.patient_user.pk)
    assert event.action == AuditAction.EXPORT and event.detail["format"] == "fhir-r4"


def test_pdf_summary_download(world: World, reports: dict[str, Report]) -> None:
    response = client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/record/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"My health record summary" in response.content
    event = AuditEvent.objects.get(object_type="patient_record", actor_id=world.patient_user.pk)
    assert event.action == AuditAction.EXPORT and event.detail["report_ids"] == [reports["second"].pk, reports["first"].pk]


def test_pdf_summary_without_any_data(world: World) -> None:
    response = client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/record/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_unknown_format_is_404(world: World) -> None:
    assert client_for(world.patient_user).get(f"/api/v1/patients/{world.patient.pk}/record/xml/").status_code == 404


def test_catalogue_api(world: World) -> None:
    body = client_for(world.patient_user).get("/api/v1/explanations/").json()
    assert body["scores"]["amap"]["citation"] and body["labs"]["alt"]["high"] and body["general"]["disclaimer"]
    assert client_for(None).get("/api/v1/explanations/").status_code == 401

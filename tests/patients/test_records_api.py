"""Genetic findings, lifestyle records and clinical findings through the REST API."""

from __future__ import annotations

from typing import Any

import pytest

from cdss.audit.models import AuditAction
from patients.models import ClinicalFinding, GeneticFinding, LifestyleRecord
from tests.access_table import PATIENT_READ, PATIENT_WRITE, ROLES
from tests.conftest import World, client_for, same_error
from tests.patients.helpers import audit_entries, days_ago, patient_url

pytestmark = pytest.mark.django_db

PNPLA3: dict[str, Any] = {
    "gene": "PNPLA3", "rsid": "rs738409", "hgvs": "NM_025225.3:c.444C>G", "genotype": "C/G",
    "zygosity": "heterozygous", "assay": "TaqMan SNP genotyping", "reported_on": "2023-05-02",
}
LIFESTYLE: dict[str, Any] = {
    "recorded_on": "2024-01-10", "alcohol_value": 14, "alcohol_unit": "units/week", "smoking_status": "former",
    "pack_years": 12.5, "height_cm": 175, "weight_kg": 92, "diabetes": "type_2", "activity_minutes_per_week": 90,
}
FINDING: dict[str, Any] = {
    "assessed_on": "2024-01-10", "ascites": "slight", "encephalopathy": "none", "ecog_ps": 1,
    "dialysis_twice_past_week": False, "hbv_status": "negative", "hcv_status": "cleared",
    "known_cirrhosis": True, "cholestatic_disease": False,
}
KINDS = [("genetics", PNPLA3, GeneticFinding), ("lifestyle", LIFESTYLE, LifestyleRecord), ("findings", FINDING, ClinicalFinding)]


def _create(world: World, path: str, body: dict[str, Any]) -> Any:
    return client_for(world.clinician).post(patient_url(world.patient.pk, f"{path}/"), body, format="json")


@pytest.mark.parametrize(("path", "body", "model"), KINDS)
def test_crud_round_trip_is_audited(world: World, path: str, body: dict[str, Any], model: Any) -> None:
    created = _create(world, path, body)
    assert created.status_code == 201, created.content
    record_id = created.json()["id"]
    record = model.objects.get(pk=record_id)
    assert record.recorded_by == world.clinician and record.source == "manual"
    client = client_for(world.clinician)
    item = patient_url(world.patient.pk, f"{path}/{record_id}/")
    assert client.get(item).json()["id"] == record_id
    listed = client.get(patient_url(world.patient.pk, f"{path}/")).json()
    assert [r["id"] for r in listed["results"]] == [record_id]
    date_field = {"genetics": "reported_on", "lifestyle": "recorded_on", "findings": "assessed_on"}[path]
    patched = client.patch(item, {date_field: "2023-12-31"}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()[date_field] == "2023-12-31"
    assert client.delete(item).status_code == 204
    assert not model.objects.filter(pk=record_id).exists()
    assert client.get(item).status_code == 404
    actions = [(e.action, e.object_type) for e in audit_entries(patient_id=world.patient.pk)]
    name = {"genetics": "genetic_finding", "lifestyle": "lifestyle_record", "findings": "clinical_finding"}[path]
    detail_url = {"genetics": "genetic-finding-detail", "lifestyle": "lifestyle-record-detail", "findings": "clinical-finding-detail"}[path]
    assert actions == [
        (AuditAction.CREATE, name), (AuditAction.READ, name), (AuditAction.READ, f"{name}_list"),
        (AuditAction.UPDATE, name), (AuditAction.DELETE, name),
        (AuditAction.READ, detail_url),  # the 404 after the delete: refused requests are recorded too
    ]
    assert audit_entries(action=AuditAction.UPDATE)[0].detail == {"fields": [date_field]}


def test_lifestyle_converts_alcohol_and_computes_bmi(world: World) -> None:
    body = _create(world, "lifestyle", LIFESTYLE).json()
    assert body["alcohol_g_per_day"] == pytest.approx(14 * 8 / 7)  # UK units: 8 g each
    assert body["alcohol_value"] == 14 and body["alcohol_unit"] == "units/week"
    assert body["bmi"] == 30.0
    grams = _create(world, "lifestyle", {"recorded_on": "2024-02-01", "alcohol_value": 40, "alcohol_unit": "g/day"})
    assert grams.json()["alcohol_g_per_day"] == 40
    # Changing the weight recomputes the BMI.
    item = patient_url(world.patient.pk, f"lifestyle/{body['id']}/")
    assert client_for(world.clinician).patch(item, {"weight_kg": 76.6}, format="json").json()["bmi"] == 25.0


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("genetics", {**PNPLA3, "rsid": "738409"}, "invalid_field", "rsid"),
        ("genetics", {**PNPLA3, "rsid": "", "hgvs": ""}, "missing_field", "rsid"),
        ("genetics", {**PNPLA3, "genotype": "", "zygosity": None}, "missing_field", "zygosity"),
        ("genetics", {**PNPLA3, "genotype": "G/G"}, "inconsistent_values", "zygosity"),
        ("genetics", {**PNPLA3, "zygosity": "compound"}, "invalid_choice", "zygosity"),
        ("genetics", {**PNPLA3, "reported_on": days_ago(-3)[:10]}, "future_date", "reported_on"),
        ("genetics", {k: v for k, v in PNPLA3.items() if k != "gene"}, "missing_field", "gene"),
        ("lifestyle", {**LIFESTYLE, "alcohol_unit": "pints"}, "invalid_choice", "alcohol_unit"),
        ("lifestyle", {"recorded_on": "2024-01-01", "alcohol_value": 10}, "missing_field", "alcohol_unit"),
        ("lifestyle", {"recorded_on": "2024-01-01", "alcohol_value": 2000, "alcohol_unit": "g/day"}, "implausible_value", "alcohol_value"),
        ("lifestyle", {**LIFESTYLE, "weight_kg": -3}, "implausible_value", "weight_kg"),
        ("lifestyle", {**LIFESTYLE, "height_cm": "tall"}, "not_a_number", "height_cm"),
        ("lifestyle", {**LIFESTYLE, "bmi": 22}, "inconsistent_values", "bmi"),
        ("lifestyle", {**LIFESTYLE, "smoking_status": "never"}, "inconsistent_values", "pack_years"),
        ("lifestyle", {"recorded_on": "2024-01-01"}, "empty_record", None),
        ("lifestyle", {**LIFESTYLE, "recorded_on": "01/10/2024"}, "invalid_date", "recorded_on"),
        ("findings", {**FINDING, "ascites": "moderate"}, "invalid_choice", "ascites"),
        ("findings", {**FINDING, "encephalopathy": "grade_2"}, "invalid_choice", "encephalopathy"),
        ("findings", {**FINDING, "ecog_ps": 5}, "implausible_value", "ecog_ps"),
        ("findings", {**FINDING, "dialysis_twice_past_week": "yes"}, "invalid_field", "dialysis_twice_past_week"),
        ("findings", {"assessed_on": "2024-01-01", "ascites": None}, "empty_record", None),
        ("findings", {**FINDING, "asictes": "none"}, "unknown_field", "asictes"),
    ],
)
def test_invalid_records_are_rejected_with_a_stable_code(
    world: World, path: str, body: dict[str, Any], code: str, field: str | None
) -> None:
    response = _create(world, path, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]["field"] == field
    assert not (GeneticFinding.objects.exists() or LifestyleRecord.objects.exists() or ClinicalFinding.objects.exists())


def test_patch_cannot_clear_the_date_or_break_the_record(world: World) -> None:
    record_id = _create(world, "findings", {"assessed_on": "2024-01-01", "ascites": "none"}).json()["id"]
    item = patient_url(world.patient.pk, f"findings/{record_id}/")
    client = client_for(world.clinician)
    assert client.patch(item, {"assessed_on": None}, format="json").json()["code"] == "missing_field"
    assert client.patch(item, {"ascites": None}, format="json").json()["code"] == "empty_record"
    assert ClinicalFinding.objects.get(pk=record_id).ascites == "none"


def test_a_record_of_another_patient_is_not_found(world: World) -> None:
    other = client_for(world.other_clinician).post(
        patient_url(world.other_patient.pk, "findings/"), FINDING, format="json"
    )
    assert other.status_code == 201
    # The clinician may see world.patient, but this record is not world.patient's.
    response = client_for(world.clinician).get(patient_url(world.patient.pk, f"findings/{other.json()['id']}/"))
    assert response.status_code == 404


ITEM_METHODS = [("GET", None, PATIENT_READ), ("PATCH", {"ecog_ps": 2}, PATIENT_WRITE), ("DELETE", None, {**PATIENT_WRITE, "clinician": 204, "admin": 204})]


@pytest.mark.parametrize("path", ["genetics", "lifestyle", "findings"])
@pytest.mark.parametrize(("method", "body", "expect"), ITEM_METHODS)
@pytest.mark.parametrize("role", ROLES)
def test_item_endpoint_access(world: World, path: str, method: str, body: Any, expect: dict[str, int], role: str) -> None:
    payload: dict[str, Any] = {"genetics": PNPLA3, "lifestyle": LIFESTYLE, "findings": FINDING}[path]
    record_id = _create(world, path, payload).json()["id"]
    if method == "PATCH" and path != "findings":
        body = {"genetics": {"assay": "array"}, "lifestyle": {"diabetes": "none"}}[path]
    client = client_for(world.users()[role])
    response = getattr(client, method.lower())(patient_url(world.patient.pk, f"{path}/{record_id}/"), body, format="json")
    assert response.status_code == expect[role], response.content
    if response.status_code == 404:
        missing = getattr(client, method.lower())(patient_url(999_999_999, f"{path}/{record_id}/"), body, format="json")
        assert missing.status_code == 404 and same_error(missing.json(), response.json())


def test_summary_gives_the_latest_of_everything(world: World) -> None:
    client = client_for(world.clinician)
    url = patient_url(world.patient.pk, "observations/")
    client.post(url, {"observations": [
        {"code": "1742-6", "value": 30, "unit": "U/L", "observed_at": "2024-01-01"},
        {"code": "1742-6", "value": 55, "unit": "U/L", "observed_at": "2024-02-01"},
        {"code": "1751-7", "value": 3.4, "unit": "g/dL", "observed_at": "2024-01-15"},
    ]}, format="json")
    _create(world, "genetics", PNPLA3)
    _create(world, "lifestyle", LIFESTYLE)
    _create(world, "lifestyle", {"recorded_on": "2024-03-01", "weight_kg": 88})
    _create(world, "findings", FINDING)
    _create(world, "findings", {"assessed_on": "2024-02-20", "ascites": "none"})
    response = client_for(world.patient_user).get(patient_url(world.patient.pk, "summary/"))
    assert response.status_code == 200
    summary = response.json()
    assert summary["patient"]["id"] == world.patient.pk
    assert {o["code"]: o["value"] for o in summary["observations"]} == {"1742-6": 55, "1751-7": 3.4}
    assert [g["gene"] for g in summary["genetics"]] == ["PNPLA3"]
    assert summary["lifestyle"]["weight_kg"]["value"] == 88 and summary["lifestyle"]["weight_kg"]["date"] == "2024-03-01"
    assert summary["lifestyle"]["height_cm"]["value"] == 175 and summary["lifestyle"]["height_cm"]["date"] == "2024-01-10"
    assert summary["lifestyle"]["alcohol_g_per_day"]["value"] == pytest.approx(16.0)
    assert summary["findings"]["ascites"] == {"value": "none", "date": "2024-02-20", "record_id": summary["findings"]["ascites"]["record_id"]}
    assert summary["findings"]["ecog_ps"]["value"] == 1
    assert summary["findings"]["dialysis_twice_past_week"]["value"] is False
    assert summary["counts"] == {"analytes": 2, "genetic_findings": 1, "lifestyle_records": 2, "clinical_findings": 2}
    (entry,) = audit_entries(action=AuditAction.READ, object_type="patient_summary")
    assert entry.actor_id == world.patient_user.pk and entry.patient_id == world.patient.pk

"""Lung nodules and their scoring context in the record (API), and the lung scores computed from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cdss.audit.models import AuditAction
from patients.models import LungNodule
from tests.conftest import World, client_for
from tests.patients.helpers import audit_entries, patient_url

pytestmark = pytest.mark.django_db

NODULE: dict[str, Any] = {
    "observed_on": "2024-02-01", "nodule_type": "solid", "long_axis_mm": 12.0, "short_axis_mm": 10.0,
    "volume_mm3": 620.0, "mean_hu": 35.0, "calcified": False, "upper_lobe": True, "spiculated": False,
    "centre_x_mm": -60.5, "centre_y_mm": 20.0, "centre_z_mm": -150.0,
}


def _date(days_from_today: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days_from_today)).isoformat()


def _post(world: World, path: str, body: dict[str, Any]) -> Any:
    return client_for(world.clinician).post(patient_url(world.patient.pk, f"{path}/"), body, format="json")


def test_nodule_crud_computes_the_mean_diameter_and_is_audited(world: World) -> None:
    created = _post(world, "lung-nodules", NODULE)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["mean_diameter_mm"] == 11.0 and body["nodule_type"] == "solid" and body["source"] == "manual"
    item = patient_url(world.patient.pk, f"lung-nodules/{body['id']}/")
    client = client_for(world.clinician)
    listed = client.get(patient_url(world.patient.pk, "lung-nodules/")).json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    patched = client.patch(item, {"short_axis_mm": 8.0}, format="json")
    assert patched.status_code == 200 and patched.json()["mean_diameter_mm"] == 10.0
    assert client.delete(item).status_code == 204
    actions = [(e.action, e.object_type) for e in audit_entries(patient_id=world.patient.pk)]
    assert (AuditAction.CREATE, "lung_nodule") in actions and (AuditAction.DELETE, "lung_nodule") in actions


def test_the_model_words_for_the_type_are_accepted(world: World) -> None:
    created = _post(world, "lung-nodules", {**NODULE, "nodule_type": "ground-glass", "calcified": None})
    assert created.status_code == 201, created.content
    assert created.json()["nodule_type"] == "non_solid"


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"nodule_type": "fluffy"}, "invalid_choice", "nodule_type"),
    ({"nodule_type": None}, "missing_field", "nodule_type"),
    ({"short_axis_mm": 14.0}, "inconsistent_values", "short_axis_mm"),
    ({"long_axis_mm": -1}, "implausible_value", "long_axis_mm"),
    ({"long_axis_mm": None, "short_axis_mm": None, "volume_mm3": None}, "missing_field", "long_axis_mm"),
    ({"mean_diameter_mm": 13.0}, "inconsistent_values", "mean_diameter_mm"),
    ({"solid_component_mm": 4.0}, "inconsistent_values", "solid_component_mm"),
    ({"nodule_type": "part_solid", "calcified": True}, "inconsistent_values", "calcified"),
    ({"centre_z_mm": None}, "missing_field", "centre_x_mm"),
    ({"observed_on": _date(3)}, "future_date", "observed_on"),
    ({"wobble": 1}, "unknown_field", "wobble"),
])
def test_invalid_nodules_fail_with_a_stable_code(world: World, change: dict[str, Any], code: str, field: str) -> None:
    body = {k: v for k, v in {**NODULE, **change}.items() if v is not None}
    response = _post(world, "lung-nodules", body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == code and error["detail"]["field"] == field
    assert not LungNodule.objects.exists()


def test_assessment_needs_content_and_consistency(world: World) -> None:
    empty = _post(world, "lung-nodule-assessments", {"assessed_on": "2024-02-01"})
    assert empty.status_code == 400 and empty.json()["code"] == "empty_record"
    clash = _post(world, "lung-nodule-assessments",
                  {"assessed_on": "2024-02-01", "nodule_context": "incidental", "screening_exam": "baseline"})
    assert clash.status_code == 400 and clash.json()["code"] == "inconsistent_values"


def test_another_care_team_cannot_read_or_add(world: World) -> None:
    created = _post(world, "lung-nodules", NODULE)
    other = client_for(world.other_clinician)
    assert other.get(patient_url(world.patient.pk, "lung-nodules/")).status_code == 404
    assert other.get(patient_url(world.patient.pk, f"lung-nodules/{created.json()['id']}/")).status_code == 404
    assert other.post(patient_url(world.patient.pk, "lung-nodules/"), NODULE, format="json").status_code == 404


def _scores(world: World) -> dict[str, Any]:
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/",
                                               {"scores": "lung_rads,brock,fleischner", "window_days": "3650"})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_three_lung_scores_compute_from_the_record_and_name_their_nodule(world: World) -> None:
    world.patient.birth_date = world.patient.birth_date.replace(year=1960)
    world.patient.save()
    today = _date(-1)
    small = _post(world, "lung-nodules", {**NODULE, "observed_on": today, "long_axis_mm": 5.0, "short_axis_mm": 4.0,
                                          "volume_mm3": 50.0, "upper_lobe": False})
    big = _post(world, "lung-nodules", {**NODULE, "observed_on": today})
    calcified = _post(world, "lung-nodules", {**NODULE, "observed_on": today, "calcified": True, "long_axis_mm": 20.0,
                                              "short_axis_mm": 18.0})
    old = _post(world, "lung-nodules", {**NODULE, "observed_on": "2019-01-01", "long_axis_mm": 30.0, "short_axis_mm": 30.0})
    assert all(r.status_code == 201 for r in (small, big, calcified, old))
    context = _post(world, "lung-nodule-assessments", {
        "assessed_on": today, "nodule_context": "screening", "screening_exam": "baseline",
        "family_history_lung_cancer": False, "emphysema": False,
    })
    assert context.status_code == 201, context.content
    result = _scores(world)
    scores = result["response"]["scores"]
    # the newest scan's two non-calcified nodules; the calcified one and the older scan are left out
    assert result["request"]["findings"]["lung_nodules"] == [
        {"type": "solid", "long_axis_mm": 5.0, "short_axis_mm": 4.0, "mean_diameter_mm": 4.5, "volume_mm3": 50.0,
         "upper_lobe": False, "spiculated": False},
        {"type": "solid", "long_axis_mm": 12.0, "short_axis_mm": 10.0, "mean_diameter_mm": 11.0, "volume_mm3": 620.0,
         "upper_lobe": True, "spiculated": False},
    ]
    lung_rads = scores["lung_rads"]
    assert lung_rads["category"] == "4A"
    assert lung_rads["details"]["nodule"]["record_id"] == big.json()["id"]
    assert lung_rads["details"]["nodules"][0]["record"]["record_id"] == small.json()["id"]
    brock = scores["brock"]
    assert brock["computable"] and brock["details"]["nodule"]["record_id"] == big.json()["id"]
    assert brock["details"]["nodule_count"] == 2
    # screening: Fleischner does not apply
    assert scores["fleischner"]["category"] == "not_applicable"
    names = {i["name"] for i in result["inputs_used"]}
    assert {"lung_nodules", "nodule_context", "lung_screening_exam"} <= names

    # the same nodules as an incidental finding in a low-risk patient: Fleischner from the record
    _post(world, "lung-nodule-assessments", {"assessed_on": today, "nodule_context": "incidental",
                                             "nodule_patient_risk": "low"})
    scores = _scores(world)["response"]["scores"]
    fleischner = scores["fleischner"]
    assert fleischner["computable"] and fleischner["details"]["table"] == "solid"
    assert fleischner["details"]["size_band"] == "large" and fleischner["details"]["multiple"] is True
    assert fleischner["details"]["nodule"]["record_id"] == big.json()["id"]
    assert scores["lung_rads"]["computable"] is False  # incidental: Lung-RADS does not apply

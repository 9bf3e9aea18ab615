"""Plausibility at the door: what no patient record can be, refused with 400 before it is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cdss.audit.models import AuditEvent
from patients.models import Patient
from tests.conftest import World, client_for


def _patch(world: World, body: dict[str, Any], user: str = "clinician") -> Any:
    return client_for(getattr(world, user)).patch(f"/api/v1/patients/{world.patient.pk}/", body, format="json")


def _create(world: World, **fields: Any) -> Any:
    body = {"mrn": "MRN-PL-1", "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1970-01-01", "sex": "female"}
    return client_for(world.clinician).post("/api/v1/patients/", {**body, **fields}, format="json")


@pytest.mark.parametrize("birth_date", ["0001-01-01", "1850-06-01", (dt.date.today() - dt.timedelta(days=131 * 366)).isoformat(), "2999-01-01",
                                        (dt.date.today() + dt.timedelta(days=3)).isoformat()])
def test_implausible_birth_dates_are_refused(world: World, birth_date: str) -> None:
    before = Patient.objects.get(pk=world.patient.pk).birth_date
    response = _patch(world, {"birth_date": birth_date})
    assert response.status_code == 400, response.content
    assert "birth_date" in response.json()["detail"]
    assert Patient.objects.get(pk=world.patient.pk).birth_date == before
    assert _create(world, birth_date=birth_date).status_code == 400


def test_a_birth_date_129_years_ago_is_accepted(world: World) -> None:
    old = dt.date.today() - dt.timedelta(days=129 * 365)
    assert _patch(world, {"birth_date": old.isoformat()}).status_code == 200


@pytest.mark.parametrize("name", ["Ada\x00", "Ada\nLovelace", "\x1b[31mAda", "Ada\u202eecalevol", "A\x85da"])
@pytest.mark.parametrize("field", ["given_name", "family_name", "city"])
def test_control_characters_in_text_are_refused(world: World, name: str, field: str) -> None:
    response = _patch(world, {field: name})
    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]


def test_accented_and_non_latin_names_are_accepted(world: World) -> None:
    response = _patch(world, {"given_name": "Zoë-Ángel", "family_name": "山田 محمد"})
    assert response.status_code == 200, response.content


def test_clinician_cannot_remove_the_care_team(world: World) -> None:
    response = _patch(world, {"care_team": None})
    assert response.status_code == 400
    assert "care_team" in response.json()["detail"]
    assert Patient.objects.get(pk=world.patient.pk).care_team_id is not None
    # The patient stays visible to the clinician.
    assert client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/").status_code == 200


def test_admin_may_remove_the_care_team(world: World) -> None:
    assert _patch(world, {"care_team": None}, user="admin").status_code == 200


def test_huge_care_team_id_is_400(world: World) -> None:
    assert _patch(world, {"care_team": 99999999999999999999}).status_code == 400


def _analysis(world: World, options: Any) -> Any:
    body = {"patient": world.patient.pk, "idempotency_key": "opt-1", "options": options}
    return client_for(world.clinician).post("/api/v1/analyses/", body, format="json")


def test_deep_options_are_refused(world: World) -> None:
    deep: Any = {"a": 1}
    for _ in range(10):
        deep = {"x": deep}
    response = _analysis(world, deep)
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_deep"


def test_large_options_are_refused(world: World) -> None:
    response = _analysis(world, {"note": "x" * 10_000})
    assert response.status_code == 400
    assert response.json()["code"] == "json_too_large"
    assert not AuditEvent.objects.filter(object_type="analysis_request", action="create").exists()

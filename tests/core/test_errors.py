from __future__ import annotations

from tests.conftest import World, client_for


def test_error_body_shape_for_validation(world: World) -> None:
    response = client_for(world.clinician).patch(
        f"/api/v1/patients/{world.patient.pk}/", {"birth_date": "2999-01-01"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "detail", "request_id"}
    assert body["code"] == "validation_failed"
    assert "birth_date" in body["detail"]


def test_unauthenticated_error_code(db: object) -> None:
    response = client_for(None).get("/api/v1/patients/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_patient_data_is_not_cached(world: World) -> None:
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/")
    assert "no-store" in response["Cache-Control"]
    assert response["X-Request-ID"]

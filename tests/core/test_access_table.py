from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from tests.access_table import ENDPOINTS, ROLES, Endpoint, endpoint_path
from tests.conftest import World, client_for, same_error


def _body(endpoint: Endpoint, patient_id: int) -> Any:
    """The request body with "{patient}" placeholders filled in, or None."""
    if not endpoint.body:
        return None
    return {k: (patient_id if v == "{patient}" else v) for k, v in endpoint.body.items()}


CASES = [
    pytest.param(endpoint, role, id=f"{endpoint}-{role}", marks=[pytest.mark.integration] if endpoint.needs_pacs else [])
    for endpoint in ENDPOINTS
    for role in ROLES
]


@pytest.mark.parametrize(("endpoint", "role"), CASES)
def test_access(world: World, endpoint: Endpoint, role: str) -> None:
    client = client_for(world.users()[role])
    path = endpoint_path(endpoint, world)
    response: Any = getattr(client, endpoint.method.lower())(path, _body(endpoint, world.patient.pk), format="json")
    assert response.status_code == endpoint.expect[role], response.content[:300]
    if response.status_code == 404:
        # "Not yours" must look exactly like "does not exist".
        missing = getattr(client, endpoint.method.lower())(
            endpoint_path(endpoint, world, missing=True), _body(endpoint, 999_999_999), format="json"
        )
        assert missing.status_code == 404
        assert same_error(missing.json(), response.json())


def test_patient_list_is_scoped(world: World) -> None:
    expectations = {
        "clinician": {world.patient.pk},
        "other_clinician": {world.other_patient.pk},
        "consultant": {world.patient.pk},
        "patient_self": {world.patient.pk},
        "patient_other": {world.other_patient.pk},
        "admin": {world.patient.pk, world.other_patient.pk},
    }
    for role, expected in expectations.items():
        rows = client_for(world.users()[role]).get("/api/v1/patients/").json()["results"]
        assert {row["id"] for row in rows} == expected, role


def test_closed_consultation_ends_access(world: World) -> None:
    world.consultant.share_grants.update(revoked_at=timezone.now())
    response = client_for(world.consultant).get(f"/api/v1/patients/{world.patient.pk}/")
    assert response.status_code == 404

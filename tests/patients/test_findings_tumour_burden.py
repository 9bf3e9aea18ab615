"""The liver tumour burden BCLC 2022 needs, entered by a clinician on a clinical finding."""

from __future__ import annotations

import pytest

from patients.models import ClinicalFinding
from tests.conftest import World, client_for
from tests.patients.helpers import patient_url

pytestmark = pytest.mark.django_db

STAGING = {
    "assessed_on": "2024-01-10", "ecog_ps": 0, "tumour_count": 2, "tumour_largest_diameter_mm": 28.5,
    "macrovascular_invasion": False, "extrahepatic_spread": False,
}


def test_tumour_burden_is_stored_and_returned(world: World) -> None:
    client = client_for(world.clinician)
    response = client.post(patient_url(world.patient.pk, "findings/"), STAGING, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["tumour_count"], body["tumour_largest_diameter_mm"]) == (2, 28.5)
    stored = ClinicalFinding.objects.get(pk=body["id"])
    assert (stored.tumour_count, stored.tumour_largest_diameter_mm, stored.ecog_ps) == (2, 28.5, 0)
    changed = client.patch(patient_url(world.patient.pk, f"findings/{body['id']}/"), {"tumour_count": 1}, format="json")
    assert changed.status_code == 200 and changed.json()["tumour_count"] == 1


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"tumour_count": -1}, "implausible_value", "tumour_count"),
        ({"tumour_count": 1.5}, "invalid_field", "tumour_count"),
        ({"tumour_largest_diameter_mm": 0}, "implausible_value", "tumour_largest_diameter_mm"),
        ({"tumour_count": 0}, "inconsistent_values", "tumour_largest_diameter_mm"),
    ],
)
def test_bad_tumour_burden_is_refused(world: World, change: dict[str, object], code: str, field: str) -> None:
    response = client_for(world.clinician).post(
        patient_url(world.patient.pk, "findings/"), {**STAGING, **change}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["detail"]["field"]) == (code, field)
    assert not ClinicalFinding.objects.exists()


def test_fhir_export_and_import_carry_the_tumour_burden(world: World) -> None:
    client = client_for(world.clinician)
    assert client.post(patient_url(world.patient.pk, "findings/"), STAGING, format="json").status_code == 201
    bundle = client.get(patient_url(world.patient.pk, "fhir/")).json()
    ClinicalFinding.objects.all().delete()
    response = client.post(patient_url(world.patient.pk, "import/"), bundle, format="json")
    assert response.status_code == 201, response.content
    stored = ClinicalFinding.objects.get()
    assert (stored.tumour_count, stored.tumour_largest_diameter_mm) == (2, 28.5)

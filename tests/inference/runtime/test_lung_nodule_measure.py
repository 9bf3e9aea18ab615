"""Click-to-measure (POST imaging/series/<uid>/nodule-measure) against the test PACS, with access checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydicom.dataset import Dataset

from imaging.services import imaging_study_sync
from tests.conftest import World, client_for
from tests.imaging.conftest import Orthanc
from tests.inference.data.synthetic import ct_series_datasets
from tests.inference.lung_nodule_phantom import NODULE_CENTRE_ZYX, SPACING, chest_hu

pytestmark = [pytest.mark.integration, pytest.mark.django_db]  # measures on series in the test PACS


@pytest.fixture
def chest(world: World) -> Iterator[dict[str, Any]]:
    datasets = ct_series_datasets(chest_hu(), spacing=SPACING)
    for ds in datasets:
        ds.PatientID, ds.BodyPartExamined = world.patient.mrn, "CHEST"
    pacs = Orthanc()
    pacs.stow(list[Dataset](datasets))
    imaging_study_sync(actor=world.clinician, patient=world.patient)
    try:
        yield {"series_uid": str(datasets[0].SeriesInstanceUID), "datasets": datasets}
    finally:
        pacs.cleanup()


def _url(chest: dict[str, Any]) -> str:
    return f"/api/v1/imaging/series/{chest['series_uid']}/nodule-measure"


def test_a_click_on_the_nodule_gives_its_outline_and_measurements(world: World, chest: dict[str, Any]) -> None:
    z, y, x = NODULE_CENTRE_ZYX
    clicked = chest["datasets"][z]
    response = client_for(world.clinician).post(
        _url(chest), {"sop_instance_uid": str(clicked.SOPInstanceUID), "row": y + 2, "column": x - 1}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"]["key"] == "lung_nodule_ct" and "supports, not replaces" in body["notice"]
    nodule = body["nodule"]
    assert 9.5 <= nodule["long_axis_mm"] <= 12.5 and nodule["type"] == "solid" and nodule["nodule_like"] is True
    assert nodule["key_sop_instance_uid"] == str(clicked.SOPInstanceUID)
    assert nodule["centre_lps_mm"] == pytest.approx([-100 + x, -80 + y, 10 + z * SPACING[0]], abs=0.6)
    outline = {item["sop_instance_uid"]: item["runs"] for item in body["outline"]}
    assert str(clicked.SOPInstanceUID) in outline and len(outline) == 5  # 10 mm across 2 mm slices
    assert any(row == y and first <= x <= last for row, first, last in outline[str(clicked.SOPInstanceUID)])
    # the same nodule by a point in patient coordinates
    by_point = client_for(world.clinician).post(_url(chest), {"point_lps_mm": nodule["centre_lps_mm"]}, format="json")
    assert by_point.status_code == 200 and by_point.json()["nodule"]["volume_mm3"] == nodule["volume_mm3"]


def test_bad_clicks_fail_with_stable_codes(world: World, chest: dict[str, Any]) -> None:
    client = client_for(world.clinician)
    first = str(chest["datasets"][0].SOPInstanceUID)
    cases = [
        ({"row": 3}, 400, "nodule_measure_invalid"),
        ({"sop_instance_uid": first, "row": 1, "column": 1, "point_lps_mm": [0, 0, 0]}, 400, "nodule_measure_invalid"),
        ({"sop_instance_uid": "1.2.3.4", "row": 1, "column": 1}, 400, "point_outside_series"),
        ({"sop_instance_uid": first, "row": 500, "column": 1}, 400, "point_outside_series"),
        ({"sop_instance_uid": first, "row": 5, "column": 5}, 422, "no_nodule_at_point"),
    ]
    for body, status, code in cases:
        response = client.post(_url(chest), body, format="json")
        assert (response.status_code, response.json()["code"]) == (status, code), body


@pytest.mark.parametrize("role", ["other_clinician", "patient_self", "anonymous"])
def test_only_the_care_team_may_measure(world: World, chest: dict[str, Any], role: str) -> None:
    z, y, x = NODULE_CENTRE_ZYX
    body = {"sop_instance_uid": str(chest["datasets"][z].SOPInstanceUID), "row": y, "column": x}
    response = client_for(world.users()[role]).post(_url(chest), body, format="json")
    assert response.status_code in ((401, 403) if role == "anonymous" else (404,)), response.content
    missing = client_for(world.clinician).post("/api/v1/imaging/series/1.2.3.999/nodule-measure", body, format="json")
    assert missing.status_code == 404

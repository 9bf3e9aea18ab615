"""Click-to-measure a lung nodule in the viewer, in real Chromium against the DICOMweb proxy and
test Orthanc: the "Measure nodule" button, a click on the synthetic chest slab's nodule, its
outline drawn over the image and its measurements in the panel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.data import off_loop
from tests.browser.phantom import dicom_file_bytes, orthanc_delete_study
from tests.conftest import World, client_for, world_build
from tests.inference.data.synthetic import ct_series_datasets
from tests.inference.lung_nodule_phantom import NODULE_CENTRE_ZYX, SPACING, chest_hu

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The body ellipse of the phantom spans columns 4-124 and rows 14-114 of its 128 x 128 grid.
BODY_COLUMNS, BODY_ROWS = (4, 124), (14, 114)
BODY_BOX = """() => {
  const canvas = document.querySelector('#vp-axial canvas');
  if (!canvas) return null;
  const { width, height } = canvas;
  const data = canvas.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y += 1) for (let x = 0; x < width; x += 1) {
    const i = (y * width + x) * 4;
    if ((data[i] + data[i + 1] + data[i + 2]) / 3 > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const rect = canvas.getBoundingClientRect();
  return { box: [x0, y0, x1, y1], width, height, rect: [rect.left, rect.top, rect.width, rect.height] };
}"""


def _upload(world: World, datasets: list[Any]) -> None:
    files = [SimpleUploadedFile(f"slice{n:03d}.dcm", dicom_file_bytes(ds), content_type="application/dicom")
             for n, ds in enumerate(datasets)]
    response = client_for(world.clinician).post(
        f"/api/v1/patients/{world.patient.id}/imaging/upload/", {"files": files}, format="multipart")
    assert response.status_code == 201, response.content


@pytest.fixture
def chest_world(live: Any) -> Iterator[tuple[World, str]]:
    world = off_loop(world_build)
    datasets = ct_series_datasets(chest_hu(), spacing=SPACING)
    for ds in datasets:
        ds.PatientID, ds.BodyPartExamined = world.patient.mrn, "CHEST"
        ds.StudyDescription, ds.SeriesDescription = "CT chest (synthetic slab)", "Axial 2 mm"
    study_uid = str(datasets[0].StudyInstanceUID)
    try:
        off_loop(_upload, world, datasets)
        yield world, study_uid
    finally:
        orthanc_delete_study(study_uid)


def _page_point(page: Any, row: float, column: float) -> tuple[float, float]:
    for _ in range(60):
        stats = page.evaluate(BODY_BOX)
        if stats and stats["box"][2] > stats["box"][0]:
            break
        page.wait_for_timeout(250)
    x0, y0, x1, y1 = stats["box"]
    sx = (x1 - x0 + 1) / (BODY_COLUMNS[1] - BODY_COLUMNS[0] + 1)
    sy = (y1 - y0 + 1) / (BODY_ROWS[1] - BODY_ROWS[0] + 1)
    canvas_x = x0 + (column - BODY_COLUMNS[0] + 0.5) * sx
    canvas_y = y0 + (row - BODY_ROWS[0] + 0.5) * sy
    left, top, css_w, css_h = stats["rect"]
    return left + canvas_x * css_w / stats["width"], top + canvas_y * css_h / stats["height"]


def test_measure_nodule_outlines_and_measures_the_clicked_nodule(open_session: Any, chest_world: tuple[World, str]) -> None:
    world, study_uid = chest_world
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/studies/{study_uid}?patient={world.patient.id}")
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    button = page.locator("#viewer-nodule-measure")
    expect(button).to_have_text("Measure nodule")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    _, row, column = NODULE_CENTRE_ZYX
    x, y = _page_point(page, row, column)
    page.mouse.click(x, y)
    panel = page.locator(".nodule-result")
    expect(panel).to_have_attribute("data-state", "done", timeout=30_000)
    expect(panel).to_contain_text("long")
    expect(panel).to_contain_text("solid")
    expect(panel).to_contain_text("lung_nodule_ct 1.0.0")
    expect(panel).to_contain_text("supports, not replaces, clinical judgement")
    outline = page.locator("#vp-axial svg.nodule-outline")
    expect(outline).to_have_count(1)
    assert int(outline.get_attribute("data-runs") or "0") >= 8
    session.snap("nodule-measured")
    # a click on air outside the body: no nodule, said plainly
    x, y = _page_point(page, 4, 4)
    page.mouse.click(x, y)
    expect(panel).to_have_attribute("data-state", "error", timeout=30_000)
    expect(panel).to_contain_text("No nodule found")
    assert not session.errors, session.errors


def _record_nodule(world: World) -> int:
    client = client_for(world.clinician)
    yesterday = (timezone.now().date() - dt.timedelta(days=1)).isoformat()
    world.patient.birth_date = world.patient.birth_date.replace(year=1958)
    world.patient.save()
    nodule = client.post(f"/api/v1/patients/{world.patient.id}/lung-nodules/", {
        "observed_on": yesterday, "nodule_type": "solid", "long_axis_mm": 12.0, "short_axis_mm": 10.0, "upper_lobe": True,
        "spiculated": False, "calcified": False}, format="json")
    assert nodule.status_code == 201, nodule.content
    context = client.post(f"/api/v1/patients/{world.patient.id}/lung-nodule-assessments/", {
        "assessed_on": yesterday, "nodule_context": "incidental", "nodule_patient_risk": "high",
        "family_history_lung_cancer": False, "emphysema": True}, format="json")
    assert context.status_code == 201, context.content
    return int(nodule.json()["id"])


def test_patient_page_lists_record_nodules_with_the_scores_that_refer_to_them(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    nodule_id = off_loop(_record_nodule, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    card = page.locator("#card-lung-nodules")
    expect(card.locator(f"tr[data-nodule='{nodule_id}']")).to_contain_text("12.0 mm")
    expect(card.locator("li[data-score='fleischner']")).to_contain_text(f"nodule #{nodule_id}")
    expect(card.locator("li[data-score='brock']")).to_contain_text(f"nodule #{nodule_id}")
    expect(card.locator("li[data-score='lung_rads']")).to_contain_text("not computable")  # incidental: not screening
    session.snap("lung-nodules-card")
    assert not session.errors, session.errors

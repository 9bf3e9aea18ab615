"""The Cornerstone3D viewer in real Chromium against the real DICOMweb proxy and test Orthanc:
pixels on the canvas, slice scrolling, presets, MPR, orientation markers and corner annotations,
HU statistics and measurements kept across layouts, segmentation overlays coloured by who made
them, SEG thumbnails, and a classifier's heatmap over the radiograph it explains."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect
from pydicom.uid import DigitalXRayImageStorageForPresentation

from imaging.models import ImagingStudy
from inference.findings.services import findings_sync_from_imaging
from inference.models import AnalysisRequest, AnalysisStatus, FindingStatus, ImagingFinding
from inference.registry import model_list
from inference.reports.services import report_create_for_request
from tests.browser.data import off_loop
from tests.browser.phantom import (
    PhantomStudy,
    ct_phantom,
    dicom_file_bytes,
    orthanc_delete_study,
    seg_for_phantom,
)
from tests.conftest import World, client_for, world_build

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Reads the visible canvas of one viewport: size, spread of grey levels, coloured (overlay)
# pixels, a fingerprint, and the bounding box of the body (anything brighter than air).
CANVAS_STATS = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return null;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const { width, height } = canvas;
  const data = ctx.getImageData(0, 0, width, height).data;
  let sum = 0, sum2 = 0, coloured = 0, hash = 0, n = 0;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = (y * width + x) * 4;
      const r = data[i], g = data[i + 1], b = data[i + 2];
      const lum = (r + g + b) / 3;
      sum += lum; sum2 += lum * lum; n += 1;
      if (Math.abs(r - g) > 40 || Math.abs(g - b) > 40 || Math.abs(r - b) > 40) coloured += 1;
      if (lum > 20) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
      if ((x * 7 + y * 13) % 97 === 0) hash = (hash * 31 + r + 3 * g + 7 * b) >>> 0;
    }
  }
  const mean = sum / n;
  const rect = canvas.getBoundingClientRect();
  return { width, height, mean, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), coloured, hash,
           box: [x0, y0, x1, y1], rect: [rect.left, rect.top, rect.width, rect.height] };
}"""


def _upload(world: World, phantom: PhantomStudy, extra: tuple[Any, ...] = ()) -> ImagingStudy:
    files = [
        SimpleUploadedFile(f"slice{n:03d}.dcm", dicom_file_bytes(ds), content_type="application/dicom")
        for n, ds in enumerate([*phantom.datasets, *extra])
    ]
    response = client_for(world.clinician).post(
        f"/api/v1/patients/{world.patient.id}/imaging/upload/", {"files": files}, format="multipart",
    )
    assert response.status_code == 201, response.content
    return ImagingStudy.objects.get(study_instance_uid=phantom.study_uid)


@pytest.fixture
def ct_world(live: Any) -> Iterator[tuple[World, PhantomStudy]]:
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn)
    try:
        off_loop(_upload, world, phantom)
        yield world, phantom
    finally:
        orthanc_delete_study(phantom.study_uid)


def _stats(page: Any, orientation: str = "axial") -> dict[str, Any]:
    stats = page.evaluate(CANVAS_STATS, f"#vp-{orientation}")
    assert stats is not None, f"no canvas in the {orientation} viewport"
    return stats


def _wait_rendered(page: Any, orientation: str = "axial") -> dict[str, Any]:
    """Until the viewport shows an image: grey levels spread out, not a blank canvas."""
    for _ in range(60):
        stats = _stats(page, orientation)
        if stats["sd"] > 5 and stats["box"][2] > stats["box"][0]:
            return stats
        page.wait_for_timeout(250)
    raise AssertionError(f"the {orientation} viewport stayed blank: {stats}")


def _to_page(stats: dict[str, Any], fx: float, fy: float) -> tuple[float, float]:
    """A point of the phantom (fractions of its 64 x 64 grid) in page coordinates.

    The body ellipse spans 90% of the width and 72% of the height, centred: its bounding
    box on the canvas gives the image's scale and position.
    """
    x0, y0, x1, y1 = stats["box"]
    size_x = (x1 - x0 + 1) / 0.9
    size_y = (y1 - y0 + 1) / 0.72
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    canvas_x = cx + (fx - 0.5) * size_x
    canvas_y = cy + (fy - 0.5) * size_y
    left, top, css_w, css_h = stats["rect"]
    return left + canvas_x * css_w / stats["width"], top + canvas_y * css_h / stats["height"]


def _settled(page: Any, locator: Any, pattern: str, low: float, high: float) -> float:
    """The number in a measurement row once it lies in [low, high]; the row is first drawn
    while the mouse is still moving, and statistics are recomputed on the next render."""
    value = float("nan")
    for _ in range(40):
        match = re.search(pattern, locator.inner_text()) if locator.count() else None
        if match:
            value = float(match.group(1))
            if low <= value <= high:
                return value
        page.wait_for_timeout(250)
    raise AssertionError(f"measurement {value} never reached [{low}, {high}]")


# Counts pixels of each overlay colour family (segColours.ts) in a viewport's canvas: AI
# proposals are magenta, clinician-verified findings green, organs blue (blended over grey).
HUE_COUNTS = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  const data = canvas.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, canvas.width, canvas.height).data;
  let magenta = 0, green = 0, blue = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (r > g + 60 && b > g + 40) magenta += 1;
    else if (g > r + 50 && g > b + 20) green += 1;
    else if (b > r + 60 && b > g + 30) blue += 1;
  }
  return { magenta, green, blue };
}"""

# Coloured pixels of an <img> (a thumbnail), drawn onto a scratch canvas.
IMG_COLOURED = """(img) => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (Math.abs(r - g) > 40 || Math.abs(g - b) > 40 || Math.abs(r - b) > 40) coloured += 1;
  }
  return coloured;
}"""


def _hues_near_lesion(page: Any) -> dict[str, int]:
    """The most pixels of each overlay colour on the middle axial slice and two slices either
    side (the phantom's lesion lies a little above the middle, whichever way the index runs)."""
    page.locator("#vp-axial .vp-element").focus()
    best = {"magenta": 0, "green": 0, "blue": 0}
    for key, presses in (("ArrowUp", 0), ("ArrowUp", 2), ("ArrowDown", 4)):
        for _ in range(presses):
            page.keyboard.press(key)
        page.wait_for_timeout(600)
        hues = page.evaluate(HUE_COUNTS, "#vp-axial")
        best = {name: max(best[name], int(hues[name])) for name in best}
    return best


def _svg_mm(page: Any, orientation: str) -> list[float]:
    """The millimetre values the annotation text boxes of a viewport show."""
    texts = page.locator(f"#vp-{orientation} svg text").all_text_contents()
    return [float(v) for t in texts for v in re.findall(r"(\d+(?:\.\d+)?) mm", t)]


def _drag(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def test_ct_study_renders_scrolls_measures_and_reformats(open_session: Any, ct_world: tuple[World, PhantomStudy]) -> None:
    world, phantom = ct_world
    session = open_session(world.clinician)
    page = session.page
    images: list[tuple[str, int]] = []
    page.on("response", lambda r: images.append((r.url, r.status)) if "/thumbnail" in r.url or "/rendered" in r.url else None)
    session.goto(f"/patients/{world.patient.id}")
    tile = page.locator(f".series-tile[data-series='{phantom.series_uid}']")
    expect(tile).to_be_visible()
    expect(page.locator("#card-imaging")).to_contain_text("CT abdomen (synthetic phantom)")
    expect(tile.locator(".thumb")).to_have_attribute("data-thumb", "loaded")
    # The proxy answers the thumbnail route itself (Orthanc 1.10 has none): no fallback needed.
    assert any("/thumbnail?viewport=128,128" in url and status == 200 for url, status in images), images
    assert not any("/rendered" in url for url, _status in images), images
    session.snap("patient-imaging")

    tile.click()
    page.wait_for_url(re.compile(rf"/studies/{re.escape(phantom.study_uid)}"))
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    expect(page.locator(".viewer")).to_have_attribute("data-mode", "volume")
    # Titled as a reader expects: the study's description and date, the patient's identifiers.
    expect(page.locator("#study-title")).to_contain_text("CT abdomen (synthetic phantom)")
    expect(page.locator("#study-title")).not_to_contain_text(phantom.study_uid)
    expect(page.locator("#study-patient")).to_contain_text(f"MRN {world.patient.mrn}")
    first = _wait_rendered(page)
    assert first["sd"] > 10, first
    # Corner annotations: patient, study date, series, slice and its position; orientation
    # markers on the edges (axial: anterior up, the patient's right on the left).
    axial_cell = page.locator("#vp-axial")
    expect(axial_cell.locator(".vp-patient")).to_have_text(f"Phantom, Synthetic · {world.patient.mrn}")
    expect(axial_cell.locator(".vp-study-date")).to_have_text("2025-01-02")
    expect(axial_cell.locator(".vp-series-text")).to_have_text("Series 2 · Portal venous 2.5 mm")
    expect(axial_cell.locator(".vp-position")).to_have_text(re.compile(r"^z -?\d+\.\d mm$"))
    expect(axial_cell).to_have_attribute("data-markers", "A L P R")
    for edge, letter in (("top", "A"), ("right", "L"), ("bottom", "P"), ("left", "R")):
        expect(axial_cell.locator(f".vp-marker[data-edge={edge}]")).to_have_text(letter)
    # The viewer marks its first drawn image (User Timing; bench/bench_viewer.py reads it).
    marks = page.evaluate("() => ['cdss:series-metadata', 'cdss:first-image'].map((n) => performance.getEntriesByName(n, 'mark').length)")
    assert marks == [1, 1], marks
    assert int(page.locator(".viewer").get_attribute("data-first-image-ms") or "0") > 0
    session.snap("viewer")

    # Slices: the keyboard scrolls, the overlay and the pixels follow.
    axial = page.locator("#vp-axial")
    before_index = int(axial.get_attribute("data-slice-index") or "-1")
    assert axial.get_attribute("data-slice-count") == str(len(phantom.datasets))
    page.locator("#vp-axial .vp-element").focus()
    for _ in range(6):
        page.keyboard.press("ArrowUp")
    expect(axial).not_to_have_attribute("data-slice-index", str(before_index))
    after_index = int(axial.get_attribute("data-slice-index") or "-1")
    assert abs(after_index - before_index) == 6
    page.wait_for_timeout(300)
    assert _wait_rendered(page)["hash"] != first["hash"], "scrolling did not change the picture"

    # Presets change the window; the overlay says which.
    page.click("button[data-preset=lung]")
    expect(page.locator(".viewer")).to_have_attribute("data-preset", "lung")
    expect(page.locator("#vp-axial .vp-window")).to_have_text("W 1500 L -600")
    page.keyboard.press("1")
    expect(page.locator(".viewer")).to_have_attribute("data-preset", "abdomen")

    # Back to the middle slice (below the lungs): an ellipse inside the liver reads its HU.
    page.locator("#vp-axial .vp-element").focus()
    for _ in range(6):
        page.keyboard.press("ArrowDown")
    expect(axial).to_have_attribute("data-slice-index", str(before_index))
    page.wait_for_timeout(300)
    stats = _wait_rendered(page)
    page.click("button[data-tool=EllipticalROI]")
    centre = _to_page(stats, 0.36, 0.52)
    radius = 0.04 * (stats["box"][2] - stats["box"][0]) / 0.9 * stats["rect"][2] / stats["width"]
    _drag(page, (centre[0] - radius, centre[1] - radius), (centre[0] + radius, centre[1] + radius))
    row = page.locator(".measure-table tr[data-tool=EllipticalROI] .measure-value")
    expect(row).to_contain_text("HU")
    _settled(page, row, r"mean (-?[\d.]+) HU", 50, 70)  # liver 60 HU, a little lesion (15 HU) at most

    page.click("button[data-tool=Length]")
    _drag(page, _to_page(stats, 0.2, 0.5), _to_page(stats, 0.8, 0.5))
    length_row = page.locator(".measure-table tr[data-tool=Length] .measure-value")
    expect(length_row).to_contain_text("mm")
    first_length = _settled(page, length_row, r"([\d.]+) mm", 25, 32)  # 0.6 x 64 px x 0.75 mm = 28.8 mm
    session.snap("measurements")

    # A second, shorter length three slices higher: the layout switch below must open there.
    page.locator("#vp-axial .vp-element").focus()
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    expect(axial).not_to_have_attribute("data-slice-index", str(before_index))
    up_index = int(axial.get_attribute("data-slice-index") or "-1")
    assert abs(up_index - before_index) == 3
    page.wait_for_timeout(300)
    stats_up = _wait_rendered(page)
    _drag(page, _to_page(stats_up, 0.3, 0.45), _to_page(stats_up, 0.6, 0.45))
    second_row = page.locator(".measure-table tr[data-tool=Length] .measure-value").nth(1)
    _settled(page, second_row, r"([\d.]+) mm", 13.5, 16)  # 0.3 x 64 x 0.75 = 14.4 mm
    page.wait_for_timeout(500)
    second_length = float(re.findall(r"([\d.]+) mm", second_row.inner_text())[0])
    expect(page.locator(".measure-table tbody tr")).to_have_count(3)
    expect(page.locator(".measure-table tr[data-plane=Axial]")).to_have_count(3)

    # Every slice has arrived by now, marked once, after the first image (bench/bench_viewer.py
    # reads it: prefetching must not hold the first image back, nor stall the volume).
    loaded: list[float] = []
    for _ in range(200):
        loaded = page.evaluate("() => performance.getEntriesByName('cdss:volume-loaded', 'mark').map((m) => m.startTime)")
        if loaded:
            break
        page.wait_for_timeout(100)
    first_ms = page.evaluate("() => performance.getEntriesByName('cdss:first-image', 'mark')[0].startTime")
    assert len(loaded) == 1 and loaded[0] >= first_ms, (loaded, first_ms)

    # MPR: three reformatted views of the same volume, each showing pixels, with the markers
    # of their planes (sagittal: anterior on the left; coronal: the patient's right on the left).
    page.click("#viewer-mpr")
    expect(page.locator(".vp")).to_have_count(3)
    expect(page.locator(".viewer")).to_have_attribute("data-layout", "mpr")
    for orientation in ("axial", "sagittal", "coronal"):
        assert _wait_rendered(page, orientation)["sd"] > 5
    sagittal = page.locator("#vp-sagittal")
    assert sagittal.get_attribute("data-slice-count") == "64"
    expect(page.locator("#vp-axial")).to_have_attribute("data-markers", "A L P R")
    expect(sagittal).to_have_attribute("data-markers", "S P I A")
    expect(page.locator("#vp-coronal")).to_have_attribute("data-markers", "S L I R")
    expect(page.locator("#vp-coronal .vp-position")).to_have_text(re.compile(r"^y -?\d+\.\d mm$"))

    # The measurements outlive the layout: listed, and the axial view opens on the slice of the
    # second length and draws it there (the first, three slices lower, is not on this slice).
    expect(page.locator(".measure-table tbody tr")).to_have_count(3)
    expect(axial).to_have_attribute("data-slice-index", str(up_index))
    page.wait_for_timeout(500)
    shown = _svg_mm(page, "axial")
    assert any(abs(v - second_length) < 0.2 for v in shown), (shown, second_length)
    assert not any(abs(v - first_length) < 0.2 for v in shown), (shown, first_length)

    # A length on the sagittal view joins the list with its plane.
    page.click("button[data-tool=Length]")
    sag = _wait_rendered(page, "sagittal")
    left, top, css_w, css_h = sag["rect"]
    x0, y0, x1, y1 = sag["box"]
    scale_x, scale_y = css_w / sag["width"], css_h / sag["height"]
    _drag(page, (left + (x0 + (x1 - x0) * 0.3) * scale_x, top + (y0 + y1) / 2 * scale_y),
          (left + (x0 + (x1 - x0) * 0.7) * scale_x, top + (y0 + y1) / 2 * scale_y))
    expect(page.locator(".measure-table tr[data-plane=Sagittal]")).to_have_count(1)
    session.snap("mpr")

    page.keyboard.press("m")
    expect(page.locator(".vp")).to_have_count(1)
    expect(page.locator(".measure-table tbody tr")).to_have_count(4)
    expect(axial).to_have_attribute("data-slice-index", str(up_index))
    page.wait_for_timeout(500)
    assert any(abs(v - second_length) < 0.2 for v in _svg_mm(page, "axial"))
    # "Show" on the sagittal length brings back a view of its plane.
    page.locator(".measure-table tr[data-plane=Sagittal] .measure-show").click()
    expect(page.locator(".viewer")).to_have_attribute("data-layout", "mpr")
    expect(page.locator(".measure-table tbody tr")).to_have_count(4)
    session.snap("measurement-shown")


def test_segmentation_overlay_toggles_and_fades(open_session: Any, ct_world: tuple[World, PhantomStudy]) -> None:
    world, phantom = ct_world
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    plain = _wait_rendered(page)
    assert plain["coloured"] == 0

    page.click("#seg-threshold")
    entry = page.locator(".seg-entry")
    expect(entry).to_have_count(1)
    assert int(page.locator("#segmentations").get_attribute("data-voxels") or "0") > 0

    def coloured() -> int:
        page.wait_for_timeout(400)
        return int(_stats(page)["coloured"])

    shown = coloured()
    assert shown > 50, "the labelmap is not drawn over the image"
    session.snap("segmentation")

    # Hiding the bone segment leaves the soft-tissue one.
    entry.locator("input[data-segment='1']").uncheck()
    without_bone = coloured()
    assert 0 < without_bone < shown

    # Opacity: a fainter fill changes the overlay's pixels, zero hides it.
    slider = page.locator("#segmentations input[type=range]")
    slider.fill("0")
    expect(page.locator("#segmentations")).to_have_attribute("data-opacity", "0")
    assert coloured() < without_bone

    slider.fill("60")
    entry.locator("input[data-segment='1']").check()
    entry.locator("input[data-segmentation]").first.uncheck()
    assert coloured() == 0, "the hidden segmentation is still drawn"
    entry.locator("input[data-segmentation]").first.check()
    assert coloured() > 50
    session.snap("segmentation-restored")


def _report_with_findings(world: World, phantom: PhantomStudy) -> int:
    """A finished liver analysis of the phantom series, as the pipeline would leave it."""
    analysis = AnalysisRequest.objects.create(
        patient=world.patient, requested_by=world.clinician, idempotency_key="phantom-liver",
        series_uids=[phantom.series_uid], model_keys=["liver_ct_seg"], status=AnalysisStatus.SUCCEEDED,
        current_step="done", progress=100, finished_at=timezone.now(),
    )
    findings = {
        "liver": {"present": True, "volume": {"value": 41.2, "unit": "mL"}, "mean_density": {"value": 59.8, "unit": "HU"}},
        "lesion_count": 1,
        "lesions": [{"id": 1, "volume": {"value": 0.4, "unit": "mL"}, "longest_axial_diameter": {"value": 7.9, "unit": "mm"},
                     "mean_density": {"value": 15.0, "unit": "HU"}, "slice_range": [12, 16]}],
    }
    step = {"kind": "segmentation", "series_uid": phantom.series_uid,
            "model": {"key": "liver_ct_seg", "version": "1.0", "weights_sha256": "ab" * 32}, "findings": findings}
    # The findings a clinician reviews (the pipeline stores them with the imaging step).
    findings_sync_from_imaging(analysis=analysis, imaging=[("imaging:liver_ct_seg", step)])
    content = {
        "schema": "cdss.report/1", "patient_id": world.patient.id,
        "imaging_findings": [step],
        "models": [{"key": "liver_ct_seg", "version": "1.0", "weights_sha256": "ab" * 32}],
        "scores": {}, "recommendations": [], "gaps": [], "staging": {},
        "intended_use": "This report supports, and does not replace, the clinical judgement of a qualified clinician.",
        "generated_at": timezone.now().isoformat(),
    }
    return report_create_for_request(analysis=analysis, content=content).pk


def test_dicom_seg_in_the_pacs_is_overlaid(open_session: Any, live: Any) -> None:
    """An AI result written back as DICOM SEG appears on its source series, per segment, with
    the report's measurements beside it."""
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn)
    try:
        off_loop(_upload, world, phantom, (seg_for_phantom(phantom),))
        report_id = off_loop(_report_with_findings, world, phantom)
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator(".viewer-series-list [data-series]")).to_have_count(2)
        entry = page.locator(".seg-entry[data-source=dicom-seg]")
        try:
            expect(entry).to_have_count(1, timeout=30_000)
        except AssertionError as error:
            raise AssertionError("\n".join(session.console[-20:])) from error
        expect(entry).to_contain_text("Liver segmentation (AI)")
        expect(entry.locator("li")).to_have_count(2)
        expect(entry).to_contain_text("Lesion")
        assert int(page.locator("#segmentations").get_attribute("data-dicom-seg") or "0") > 0
        # The SEG series has a thumbnail drawn from the segmentation, not a blank tile.
        seg_uid = page.locator(".viewer-series-list [data-series]").nth(1).get_attribute("data-series")
        seg_thumb = page.locator(f".series-button[data-series='{seg_uid}'] .thumb")
        expect(seg_thumb).to_have_attribute("data-thumb", "seg")
        assert seg_thumb.locator("img").evaluate(IMG_COLOURED) > 20, "the SEG thumbnail shows no segment"

        # The model's segments are a proposal until reviewed: labelled so, its lesion in the AI
        # colours (magenta), the liver in the organ colours (blue), with a legend.
        expect(entry).to_have_attribute("data-review", "proposed")
        expect(entry.locator(".seg-review")).to_have_text("AI proposal \u2013 not verified")
        expect(entry.locator("li[data-role=organ]")).to_contain_text("Liver")
        expect(entry.locator("li[data-role=ai]")).to_contain_text("Lesion")
        expect(page.locator(".seg-legend li")).to_have_count(3)
        banner = page.locator("#viewer-ai-banner")  # over the images, not only in the side panel
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("AI proposal \u2013 not verified")
        expect(page.locator(".seg-legend")).to_contain_text("AI proposal \u2013 not verified")
        _wait_rendered(page)
        hues = _hues_near_lesion(page)
        assert hues["magenta"] > 5 and hues["blue"] > 50 and hues["green"] == 0, hues
        overlay = int(_stats(page)["coloured"])
        assert overlay > 50, "the SEG is not drawn"
        entry.locator("input[data-segment='1']").uncheck()
        page.wait_for_timeout(500)
        assert int(_stats(page)["coloured"]) < overlay
        # The findings come first, above the organ and segment list, titled by the model's
        # name and version from its card, not its key.
        side = page.locator(".viewer-side > section")
        assert side.evaluate_all("(s) => s.map((e) => e.id)").index("ai-findings") < side.evaluate_all("(s) => s.map((e) => e.id)").index("segmentations")
        ai = page.locator("#ai-findings")
        expect(ai).to_contain_text("Liver and liver-lesion CT segmentation (2D U-Net++) 1.0")
        expect(ai).not_to_contain_text("liver_ct_seg")
        expect(ai).to_contain_text("41.2 mL")
        expect(ai.locator(".measure-table tbody tr")).to_have_count(1)
        expect(ai.locator(".measure-table tbody tr")).to_contain_text("7.9 mm")
        session.snap("dicom-seg")

        # Once a clinician has decided every finding, the lesion takes the verified colours.
        off_loop(lambda: ImagingFinding.objects.filter(analysis__patient=world.patient).update(
            status=FindingStatus.ACCEPTED, decided_by=world.clinician, decided_at=timezone.now()))
        page.reload()
        entry = page.locator(".seg-entry[data-source=dicom-seg]")
        expect(entry).to_have_count(1, timeout=30_000)
        expect(entry).to_have_attribute("data-review", "verified")
        expect(entry.locator(".seg-review")).to_have_text("AI result \u2013 reviewed by a clinician")
        expect(entry.locator("li[data-role=clinician]")).to_contain_text("Lesion")
        expect(page.locator("#viewer-ai-banner")).to_have_attribute("data-review", "verified")
        _wait_rendered(page)
        hues = _hues_near_lesion(page)
        assert hues["magenta"] == 0 and hues["green"] > 5, hues
        session.snap("dicom-seg-verified")
        session.goto(f"/reports/{report_id}")
        expect(page.locator("#report-findings")).to_contain_text("7.9 mm")
        expect(page.locator("#report-models")).to_contain_text("ab" * 32)
        session.snap("report-findings")
    finally:
        orthanc_delete_study(phantom.study_uid)


def _radiograph(world: World) -> PhantomStudy:
    """One synthetic chest radiograph (DX): a 2-D image, shown as a stack without MPR."""
    phantom = ct_phantom(patient_id=world.patient.mrn, slices=1, size=96)
    ds = phantom.datasets[0]
    ds.Modality = "DX"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.StudyDescription, ds.SeriesDescription = "Chest radiograph (synthetic)", "PA"
    del ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.SliceLocation, ds.SliceThickness, ds.RescaleType
    ds.PatientOrientation = ["L", "F"]  # a PA film: the patient's left to the right, feet down
    pixels = (ds.pixel_array.astype("int32") + 1024).clip(0, 4095)
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = 0, 12, 11
    ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 0, int(pixels.mean()), 2000
    off_loop(_upload, world, phantom)
    return phantom


def _heatmap_png(size: int = 96) -> str:
    """A Grad-CAM-like map (a bright blob right of centre) as the classifier runner stores it."""
    from PIL import Image

    y, x = np.mgrid[0:size, 0:size]
    blob = np.exp(-(((x - size * 0.65) / (size * 0.15)) ** 2 + ((y - size * 0.5) / (size * 0.2)) ** 2))
    buffer = io.BytesIO()
    Image.fromarray((blob * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _cxr_report(world: World, phantom: PhantomStudy) -> int:
    """A finished chest X-ray analysis of the radiograph with its heatmap, as the pipeline leaves it."""
    sop = str(phantom.datasets[0].SOPInstanceUID)
    analysis = AnalysisRequest.objects.create(
        patient=world.patient, requested_by=world.clinician, idempotency_key="phantom-cxr",
        series_uids=[phantom.series_uid], model_keys=["cxr_pneumonia"], status=AnalysisStatus.SUCCEEDED,
        current_step="done", progress=100, finished_at=timezone.now(),
    )
    step = {"kind": "classification", "series_uid": phantom.series_uid,
            "model": {"key": "cxr_pneumonia", "version": "1.0.0", "weights_sha256": "cd" * 32},
            "findings": {"predictions": [{"series_uid": phantom.series_uid, "sop_instance_uid": sop, "probability": 0.87,
                                          "threshold": 0.5, "positive": True, "label": "pneumonia",
                                          "heatmap_ref": _heatmap_png()}]}}
    content = {
        "schema": "cdss.report/1", "patient_id": world.patient.id, "imaging_findings": [step],
        "models": [step["model"]], "scores": {}, "recommendations": [], "gaps": [], "staging": {},
        "intended_use": "This report supports, and does not replace, the clinical judgement of a qualified clinician.",
        "generated_at": timezone.now().isoformat(),
    }
    return report_create_for_request(analysis=analysis, content=content).pk


def _card_heatmap_caveat() -> str:
    """What the newest chest X-ray card says about its heatmaps (the viewer's own words if nothing)."""
    card = next(c for c in model_list(latest_only=True) if c.key == "cxr_pneumonia")
    texts = [str(t) for t in card.data.get("limitations", []) if re.search(r"grad-?cam|heatmap", str(t), re.IGNORECASE)]
    return texts[0] if texts else "The heatmap shows where the model looked, not an outline of disease."


def _viewport_colour(page: Any, selector: str) -> int:
    """Coloured pixels of a viewport as the reader sees it (the canvas and every layer over it)."""
    from PIL import Image

    shot = Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")
    pixels = np.asarray(shot).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    coloured = (np.abs(r - g) > 40) | (np.abs(g - b) > 40) | (np.abs(r - b) > 40)
    return int(coloured.sum())


def test_radiograph_is_a_stack_with_markers_and_heatmap(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    phantom = _radiograph(world)
    try:
        off_loop(_cxr_report, world, phantom)
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator(".viewer")).to_have_attribute("data-mode", "stack")
        assert _wait_rendered(page, "acquisition")["sd"] > 5
        expect(page.locator("#viewer-mpr")).to_be_disabled()
        expect(page.locator("#seg-threshold")).to_be_disabled()
        expect(page.locator("button[data-preset=lung]")).to_be_disabled()
        # No ImageOrientationPatient on a film: the markers come from PatientOrientation (L\F).
        film = page.locator("#vp-acquisition")
        expect(film).to_have_attribute("data-markers", "S L I R")
        expect(film.locator(".vp-marker[data-edge=left]")).to_have_text("R")

        # The Grad-CAM heatmap of this image lies over it, with its model, caveat and opacity.
        panel = page.locator("#ai-heatmap")
        expect(panel).to_be_visible()
        expect(panel).to_have_attribute("data-heatmap", "shown")
        expect(panel).to_contain_text("Paediatric chest X-ray pneumonia classifier 1.0.0")
        expect(panel).to_contain_text("probability 0.87")
        expect(panel.locator(".heatmap-caveat")).to_contain_text(_card_heatmap_caveat())  # the model card's words
        expect(panel.locator(".heatmap-caveat")).to_contain_text("supports, not replaces, clinical judgement")
        page.wait_for_timeout(300)
        assert _stats(page, "acquisition")["coloured"] == 0, "the heatmap must be a layer, not burnt into the image"
        shown = _viewport_colour(page, "#vp-acquisition")
        assert shown > 500, shown
        session.snap("radiograph-heatmap")
        slider = panel.locator("input[type=range]")
        slider.fill("100")
        expect(panel).to_have_attribute("data-opacity", "100")
        assert _viewport_colour(page, "#vp-acquisition") > shown * 0.9
        slider.fill("0")
        expect(panel).to_have_attribute("data-opacity", "0")
        assert _viewport_colour(page, "#vp-acquisition") < shown * 0.1
        slider.fill("50")
        panel.locator("input[type=checkbox]").uncheck()
        expect(panel).to_have_attribute("data-opacity", "0")
        session.snap("radiograph")
    finally:
        orthanc_delete_study(phantom.study_uid)


def test_upload_dicom_from_the_patient_page(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn, slices=4, size=32)
    try:
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/patients/{world.patient.id}")
        expect(page.locator("#card-imaging")).to_contain_text("No imaging studies")
        page.set_input_files("#imaging-file", [
            {"name": f"slice{n}.dcm", "mimeType": "application/dicom", "buffer": dicom_file_bytes(ds)}
            for n, ds in enumerate(phantom.datasets)
        ])
        expect(page.locator("#announcer")).to_contain_text("4 files stored")
        expect(page.locator(f".series-tile[data-series='{phantom.series_uid}']")).to_be_visible()
        session.snap("uploaded")
    finally:
        orthanc_delete_study(phantom.study_uid)


def test_measurements_belong_to_their_series(open_session: Any, live: Any) -> None:
    """A length drawn on one series is listed and drawn with it only: another series of the
    study hides it (and says so), and coming back shows it again, in world coordinates."""
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn)
    other = ct_phantom(patient_id=world.patient.mrn, slices=8)
    for ds in other.datasets:
        ds.StudyInstanceUID = phantom.study_uid
        ds.SeriesNumber, ds.SeriesDescription = 3, "Arterial 2.5 mm"
    try:
        off_loop(_upload, world, phantom, tuple(other.datasets))
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}&series={phantom.series_uid}")
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator(".viewer")).to_have_attribute("data-series", phantom.series_uid)
        stats = _wait_rendered(page)
        page.click("button[data-tool=Length]")
        _drag(page, _to_page(stats, 0.2, 0.5), _to_page(stats, 0.8, 0.5))
        row = page.locator(".measure-table tr[data-tool=Length] .measure-value")
        _settled(page, row, r"([\d.]+) mm", 25, 32)
        page.wait_for_timeout(500)
        length = float(re.findall(r"([\d.]+) mm", row.inner_text())[0])

        page.click(f".series-button[data-series='{other.series_uid}']")
        expect(page.locator(".viewer")).to_have_attribute("data-series", other.series_uid)
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        _wait_rendered(page)
        expect(page.locator(".measure-table")).to_have_count(0)
        expect(page.locator(".measure-elsewhere")).to_contain_text("1 more on other series")
        expect(page.locator("#vp-axial .vp-series-text")).to_have_text("Series 3 · Arterial 2.5 mm")

        page.click(f".series-button[data-series='{phantom.series_uid}']")
        expect(page.locator(".viewer")).to_have_attribute("data-series", phantom.series_uid)
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        _wait_rendered(page)
        expect(page.locator(".measure-table tbody tr")).to_have_count(1)
        page.wait_for_timeout(600)
        assert any(abs(v - length) < 0.5 for v in _svg_mm(page, "axial")), _svg_mm(page, "axial")
        session.snap("series-measurements")
    finally:
        orthanc_delete_study(phantom.study_uid)

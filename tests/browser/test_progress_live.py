"""Progress people can read while they wait, in real Chromium: a model step's own count of slices
with the time left, pushed by the worker's publisher over the real channel layer, and the bytes
of a DICOM upload as they go up."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from inference.analysis.progress import analysis_publish, step_count_publish
from inference.models import AnalysisRequest, AnalysisStatus
from tests.browser.data import off_loop
from tests.browser.phantom import ct_phantom, dicom_file_bytes, orthanc_delete_study
from tests.conftest import World, world_build

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _running_analysis(world: World) -> AnalysisRequest:
    return AnalysisRequest.objects.create(
        patient=world.patient, requested_by=world.clinician, idempotency_key="progress-live",
        series_uids=["1.2.3"], model_keys=["liver_ct_seg"], status=AnalysisStatus.RUNNING,
        current_step="running model", progress=10,
    )


def _step_moves_on(analysis_id: int) -> None:
    analysis = AnalysisRequest.objects.get(pk=analysis_id)
    analysis.current_step, analysis.progress = "writing report", 85
    analysis.save(update_fields=["current_step", "progress"])
    analysis_publish(analysis, event_type="analysis.status")


def test_model_step_shows_slices_done_and_time_left(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    analysis = off_loop(_running_analysis, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    expect(page.locator(".connection")).to_have_attribute("data-state", "live")
    item = page.locator(f"#card-reports li.analysis[data-analysis='{analysis.id}']")
    expect(item.locator(".progress-text")).to_have_text("running model (10%)")
    assert item.locator("progress.step-progress").count() == 0

    count = {"request_id": analysis.id, "step_key": "imaging:1", "step_name": "running model", "unit": "slices"}
    off_loop(step_count_publish, **count, k=48, n=150, eta_s=19.4)
    expect(item.locator(".progress-text")).to_have_text("running model: 48 of 150 slices · about 20 s left (10%)")
    expect(item.locator("progress.step-progress")).to_have_attribute("value", "48")
    expect(item.locator("progress.step-progress")).to_have_attribute("max", "150")
    session.snap("slices-counted")

    off_loop(step_count_publish, **count, k=150, n=150, eta_s=0.0)
    expect(item.locator(".progress-text")).to_have_text("running model: 150 of 150 slices (10%)")

    # The next step drops the finished step's count.
    off_loop(_step_moves_on, analysis.id)
    expect(item.locator(".progress-text")).to_have_text("writing report (85%)")
    assert item.locator("progress.step-progress").count() == 0


# Records every text the upload's progress line shows, before the upload starts.
WATCH_UPLOAD = """() => {
  window.__uploadTexts = [];
  const target = document.querySelector('#imaging-upload-text');
  new MutationObserver(() => {
    if (target.textContent) window.__uploadTexts.push(target.textContent);
  }).observe(target, { childList: true, characterData: true, subtree: true });
}"""


def test_upload_shows_bytes_sent(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn, slices=6, size=64)
    files = [
        {"name": f"slice{n}.dcm", "mimeType": "application/dicom", "buffer": dicom_file_bytes(ds)}
        for n, ds in enumerate(phantom.datasets)
    ]
    try:
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/patients/{world.patient.id}")
        expect(page.locator("#imaging-upload")).to_be_visible()
        expect(page.locator("#imaging-upload-progress")).to_be_hidden()
        page.evaluate(WATCH_UPLOAD)
        page.set_input_files("#imaging-file", files)
        expect(page.locator("#announcer")).to_contain_text("6 files stored")
        expect(page.locator("#imaging-upload-progress")).to_be_hidden()
        texts: list[str] = page.evaluate("() => window.__uploadTexts")
        pattern = re.compile(r"^Uploading 6 files: ([\d.]+) (bytes|kB|MB) of ([\d.]+) (kB|MB) sent")
        seen = [m for m in map(pattern.match, texts) if m]
        assert seen, texts
        # The form carries every file: the total is at least their size, and the last report is all of it.
        total_kb = float(seen[-1].group(3)) * (1000 if seen[-1].group(4) == "MB" else 1)
        assert total_kb >= sum(len(f["buffer"]) for f in files) / 1000 * 0.95
        assert seen[-1].group(1, 2) == seen[-1].group(3, 4)
    finally:
        orthanc_delete_study(phantom.study_uid)

"""Chest X-ray intake in Chromium, with a real Celery worker: a batch (progress, table sorted by
probability, CSV export, filing into a record), a video (a generated Motion-JPEG clip: timeline
and key frames) and the camera (Chromium's fake device fed a Y4M made from a held-out X-ray)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from inference.models import CxrIntakeJob
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.data import off_loop
from tests.conftest import World, world_build
from tests.inference.cxr_media import NORMAL, PNEUMONIA, clip_frames, grey, mjpeg_avi, png, y4m

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cxr-media")
    (folder / "normal.png").write_bytes(png(grey(NORMAL)))
    (folder / "pneumonia.png").write_bytes(png(grey(PNEUMONIA)))
    (folder / "clip.avi").write_bytes(mjpeg_avi(clip_frames(12)))
    (folder / "camera.y4m").write_bytes(y4m([grey(PNEUMONIA)] * 10))
    return folder


@pytest.fixture
def browser(media: Path) -> Iterator[Any]:
    """Chromium with a fake camera that shows a chest X-ray (this module's tests only)."""
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={media / 'camera.y4m'}"]
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def _world() -> World:
    return world_build()


def _wait_finished(page: Any) -> None:
    expect(page.locator("#cxr-progress-text")).to_contain_text("succeeded", timeout=120_000)
    expect(page.locator("#cxr-progress")).to_have_attribute("value", "100")


def test_batch_table_sorts_exports_and_files_into_the_record(open_session: Any, celery_worker_process: Any, media: Path) -> None:
    world = off_loop(_world)
    session = open_session(world.clinician)
    page = session.page
    session.goto("/cxr-intake")
    expect(page.locator("h1")).to_have_text("Chest X-ray intake")
    page.set_input_files("#cxr-batch-files", [str(media / "normal.png"), str(media / "pneumonia.png")])
    page.click("#cxr-batch-go")
    _wait_finished(page)
    rows = page.locator("#cxr-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#cxr-model")).to_contain_text("supports, not replaces, clinical judgement")
    expect(rows.locator("img.cxr-heatmap")).to_have_count(2)
    session.snap("batch-results")

    def order() -> list[float]:
        return [float(v) for v in rows.evaluate_all("rs => rs.map(r => r.dataset.probability)")]

    assert order() == sorted(order(), reverse=True)
    expect(rows.first.locator(".cxr-name")).to_have_text("pneumonia.png")
    page.click("#cxr-sort")
    expect(rows.first.locator(".cxr-name")).to_have_text("normal.png")
    assert order() == sorted(order())

    with page.expect_download() as download_info:
        page.click("#cxr-csv")
    text = Path(download_info.value.path()).read_text()
    assert text.startswith("index,file,frame,probability_PNEUMONIA") and "pneumonia.png" in text

    page.select_option("#cxr-file-patient", str(world.patient.pk))
    page.click("#cxr-file")
    expect(page.locator("#cxr-file-status")).to_contain_text("Filed 2 image(s) as a new study", timeout=60_000)
    session.snap("batch-filed")
    job = off_loop(lambda: CxrIntakeJob.objects.get(created_by=world.clinician))
    assert job.filed and job.filed[0]["patient"] == world.patient.pk and job.filed[0]["instances"] == 2


def test_video_shows_a_timeline_and_key_frames(open_session: Any, celery_worker_process: Any, media: Path) -> None:
    world = off_loop(_world)
    session = open_session(world.clinician)
    page = session.page
    session.goto("/cxr-intake")
    page.set_input_files("#cxr-video-file", str(media / "clip.avi"))
    page.click("#cxr-video-go")
    _wait_finished(page)
    expect(page.locator("#cxr-timeline polyline")).to_have_count(1)
    points = page.locator("#cxr-timeline polyline").get_attribute("points") or ""
    assert len(points.split()) == 12
    keys = page.locator("#cxr-table tbody tr")
    expect(keys).to_have_count(3)
    frames = [int(t.removeprefix("frame ")) for t in keys.locator(".cxr-name").all_inner_texts()]
    assert all(f >= 6 for f in frames), frames  # the pneumonia half of the clip
    session.snap("video-timeline")


def test_unsupported_video_is_refused_with_its_code(open_session: Any, media: Path, tmp_path: Path) -> None:
    world = off_loop(_world)
    session = open_session(world.clinician)
    session.allow_errors("415")
    page = session.page
    session.goto("/cxr-intake")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0\0\0\x18ftypisom" + b"\0" * 64)
    page.set_input_files("#cxr-video-file", str(clip))
    page.click("#cxr-video-go")
    expect(page.locator("#cxr-error")).to_contain_text("unsupported_video_codec")


def test_camera_capture_is_classified_with_the_ood_warning(open_session: Any, celery_worker_process: Any) -> None:
    world = off_loop(_world)
    session = open_session(world.clinician)
    page = session.page
    session.goto("/cxr-intake")
    page.click("#cxr-camera-start")
    expect(page.locator("#cxr-ood-warning")).to_be_visible()
    expect(page.locator("#cxr-ood-warning")).to_contain_text("Out-of-distribution warning")
    page.wait_for_function("() => document.querySelector('#cxr-camera-video').videoWidth > 0")
    page.click("#cxr-camera-capture")
    _wait_finished(page)
    expect(page.locator("#cxr-table tbody tr")).to_have_count(1)
    expect(page.locator("#cxr-table .cxr-name")).to_have_text("camera-capture.png")
    expect(page.locator("#cxr-ood-warning")).to_contain_text("not what the model was trained on")
    session.snap("camera-result")

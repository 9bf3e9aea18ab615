"""The brain tumour SEG (brain_mri_seg's four BraTS segments) over its FLAIR in the viewer, in real
Chromium against the real DICOMweb proxy and test Orthanc. The study is synthetic (made in the test)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from tests.browser.data import off_loop
from tests.browser.phantom import dicom_file_bytes, orthanc_delete_study
from tests.conftest import World, client_for, world_build
from tests.inference.brain_fixture import dicom_study

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COLOURED = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  if (!canvas) return -1;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (Math.abs(r - g) > 40 || Math.abs(g - b) > 40 || Math.abs(r - b) > 40) coloured += 1;
  }
  return coloured;
}"""


def _brain_seg(study: dict[str, Any]) -> Any:
    from inference.runtime.brain_dicom import seg_dicom_brain_from_volume
    from inference.runtime.io import dicom_series_from_datasets

    for ds in study["flair"]:
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    volume = dicom_series_from_datasets(study["flair"])
    labels = np.asarray(study["case"]["labels"]).copy()
    labels[(labels == 2) & (np.arange(labels.shape[2])[None, None, :] % 7 == 0)] = 3  # all four labels present
    model = {"key": "brain_mri_seg", "version": "1.0.0", "weights_sha256": "cd" * 32}
    return seg_dicom_brain_from_volume(labels_zyx=labels, volume=volume, model=model)


def _upload(world: World, study: dict[str, Any]) -> None:
    datasets = [*study["flair"], *study["t1c"], _brain_seg(study)]
    files = [
        SimpleUploadedFile(f"img{n:03d}.dcm", dicom_file_bytes(ds), content_type="application/dicom")
        for n, ds in enumerate(datasets)
    ]
    response = client_for(world.clinician).post(
        f"/api/v1/patients/{world.patient.id}/imaging/upload/", {"files": files}, format="multipart",
    )
    assert response.status_code == 201, response.content


def test_brain_seg_is_overlaid_on_the_flair(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    study = dicom_study(patient_id=world.patient.mrn)
    try:
        off_loop(_upload, world, study)
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/studies/{study['study_uid']}?patient={world.patient.id}")
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator(".viewer-series-list [data-series]")).to_have_count(3)
        # The FLAIR (the SEG's source) is the first series and opens with the SEG on it.
        expect(page.locator(".viewer-series-list [data-series]").first).to_have_attribute(
            "data-series", study["flair_series_uid"])
        entry = page.locator(".seg-entry[data-source=dicom-seg]")
        try:
            expect(entry).to_have_count(1, timeout=30_000)
        except AssertionError as error:
            raise AssertionError("\n".join(session.console[-20:])) from error
        expect(entry.locator("li")).to_have_count(4)
        for name in ("Necrosis", "Peritumoural oedema", "Non-enhancing tumour", "Enhancing tumour"):
            expect(entry).to_contain_text(name)
        assert int(page.locator("#segmentations").get_attribute("data-dicom-seg") or "0") > 0
        # The viewer opens on the middle slice, which cuts the tumour; a few slices either side also do.
        page.locator("#vp-axial .vp-element").focus()
        drawn = 0
        for key, presses in (("ArrowUp", 0), ("ArrowUp", 1), ("ArrowDown", 2)):
            for _ in range(presses):
                page.keyboard.press(key)
            page.wait_for_timeout(800)
            drawn = max(drawn, int(page.evaluate(COLOURED, "#vp-axial")))
        assert drawn > 50, "the brain SEG is not drawn on the FLAIR"
        expect(entry).to_have_count(1)
        session.snap("brain-seg")
    finally:
        orthanc_delete_study(study["study_uid"])

"""The report as a clinician reads it, in Chromium against the real server and test PACS: the
document page (header, findings in human units, lesion rows that open the viewer at the
lesion), and its PDF with the key image rendered from the SEG in the PACS at export time.

Screenshots of the page and PNG renderings of every PDF page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect
from pydicom.dataset import Dataset

from inference.models import Report
from tests.browser.conftest import SCREENSHOTS
from tests.browser.data import off_loop, panel_record
from tests.browser.phantom import PhantomStudy, dicom_file_bytes, orthanc_delete_study
from tests.conftest import World, client_for, world_build
from tests.inference.report_document_data import SERIES_DESCRIPTION, liver_report_signed, phantom_with_seg

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Internal keys a reader must never see: snake_case ids, the centroid's axis order, UCUM codes.
INTERNAL = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|zyx|\[hnsf'U\]|\{INR\}|tta agreement")


def _signed_report(world: World, phantom: PhantomStudy, seg: Dataset) -> int:
    files = [SimpleUploadedFile(f"i{n:03d}.dcm", dicom_file_bytes(ds), content_type="application/dicom")
             for n, ds in enumerate([*phantom.datasets, seg])]
    response = client_for(world.clinician).post(
        f"/api/v1/patients/{world.patient.id}/imaging/upload/", {"files": files}, format="multipart")
    assert response.status_code == 201, response.content
    panel_record(actor=world.clinician, patient=world.patient)
    report = liver_report_signed(clinician=world.clinician, patient=world.patient, phantom=phantom, seg=seg, key="browser",
                                 comment="Discussed at the liver MDT.")
    return report.pk


@pytest.fixture
def liver_case(live: Any) -> Iterator[tuple[World, PhantomStudy, int]]:
    world = off_loop(world_build)
    phantom, seg = phantom_with_seg(patient_id=world.patient.mrn)
    try:
        report_id = off_loop(_signed_report, world, phantom, seg)
        yield world, phantom, report_id
    finally:
        orthanc_delete_study(phantom.study_uid)


def test_report_page_and_pdf_read_as_a_clinical_document(open_session: Any, liver_case: tuple[World, PhantomStudy, int]) -> None:
    import pypdfium2 as pdfium

    world, phantom, report_id = liver_case
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/reports/{report_id}")
    header = page.locator("#report-header")
    patient = world.patient
    expect(header.locator("[data-fact=patient] dd")).to_have_text(f"{patient.family_name.upper()}, {patient.given_name}")
    expect(header.locator("[data-fact=mrn] dd")).to_have_text(patient.mrn)
    expect(header.locator("[data-fact=birth-date] dd")).to_contain_text("12 Apr 1965")
    expect(header.locator("[data-fact=signer] dd")).to_have_text(world.clinician.get_full_name())
    expect(header.locator("[data-fact=requester] dd")).to_have_text(world.clinician.get_full_name())
    expect(page.locator("#finding-review")).to_have_count(1)
    findings = page.locator("#report-findings")
    expect(findings.locator("h3").first).to_have_text(f"{SERIES_DESCRIPTION} · CT · 02 Jan 2025")
    expect(findings).to_contain_text("HU")
    expect(findings.locator(".lesion-row")).to_have_count(1)
    expect(findings.locator(".lesion-row")).to_contain_text(f"accepted with changes as suspected HCC by {world.clinician.get_full_name()}")
    expect(page.locator("#report-scores li[data-score=fib4]")).to_contain_text("FIB-4")
    expect(page.locator("#report-not-computed")).to_contain_text("GALAD (needs AFP")
    expect(page.locator("#report-models")).to_contain_text("Liver and liver-lesion CT segmentation")
    expect(page.locator("#report-signed")).to_contain_text("Discussed at the liver MDT.")
    visible = page.locator(".report-doc").inner_text()
    assert phantom.series_uid not in visible
    assert not INTERNAL.search(visible), INTERNAL.findall(visible)
    session.snap("report-document")

    # The PDF, as the page's button downloads it: key image from the PACS, signer, models.
    href = page.locator("#report-pdf").get_attribute("href") or ""
    answer = page.request.get(f"{session.base}{href}")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    document = pdfium.PdfDocument(io.BytesIO(answer.body()))
    texts = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for index, pdf_page in enumerate(document):
            texts.append(pdf_page.get_textpage().get_text_range())
            pdf_page.render(scale=1.5).to_pil().save(SCREENSHOTS / f"{session.name}-pdf-page-{index + 1}.png")
    finally:
        document.close()
    text = re.sub(r"\s+", " ", " ".join(texts))
    assert patient.mrn in text and f"{patient.family_name.upper()}, {patient.given_name}" in text
    assert SERIES_DESCRIPTION in text and re.search(r"\d mm", text) and " HU" in text
    assert "Key image, lesion 1" in text, "the key image was not rendered from the PACS"
    assert f"Signed by {world.clinician.get_full_name()}" in text
    assert "Liver and liver-lesion CT segmentation" in text
    assert "supports, not replaces, a clinician's judgement" in text

    # The printable HTML: the same document, with the key image.
    print_href = page.locator("#report-print").get_attribute("href") or ""
    printable = session.page.context.new_page()
    printable.goto(f"{session.base}{print_href}")
    expect(printable.locator("figure img")).to_have_count(1)
    printed = printable.locator("body").inner_text()
    assert patient.mrn in printed and not INTERNAL.search(printed), INTERNAL.findall(printed)
    printable.screenshot(path=str(SCREENSHOTS / f"{session.name}-print-view.png"), full_page=True)
    printable.close()

    # A lesion row opens the viewer at the lesion's image.
    link = findings.locator(".lesion-row a.lesion-open")
    link.click()
    page.wait_for_url(re.compile(rf"/studies/{re.escape(phantom.study_uid)}\?.*instance="))
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    key = off_loop(_key_slice, report_id)
    count = len(phantom.datasets)
    axial = page.locator("#vp-axial")
    # The viewer may count slices from either end; the series opens in its middle otherwise.
    expect(axial).to_have_attribute("data-slice-index", re.compile(rf"^({key}|{count - 1 - key})$"), timeout=15_000)
    session.snap("viewer-at-lesion")


def _key_slice(report_id: int) -> int:
    from inference.reports.presentation import report_document

    lesion = report_document(Report.objects.get(pk=report_id)).imaging[0].lesions[0]
    assert lesion.key_slice is not None and lesion.key_slice not in (11, 12), "the lesion must lie off the middle slice"
    return lesion.key_slice


def _cxr_signed_report(world: World, radiograph: Dataset) -> int:
    """A signed chest X-ray report whose image is in the PACS, with the model's heatmap kept in it."""
    import base64

    import numpy as np
    from django.utils import timezone
    from PIL import Image

    from inference.reports.content import content_sha256

    response = client_for(world.clinician).post(
        f"/api/v1/patients/{world.patient.id}/imaging/upload/",
        {"files": [SimpleUploadedFile("cxr.dcm", dicom_file_bytes(radiograph), content_type="application/dicom")]},
        format="multipart")
    assert response.status_code == 201, response.content
    hot = np.zeros((32, 32), dtype=np.uint8)
    hot[6:14, 18:26] = 255
    buffer = io.BytesIO()
    Image.fromarray(hot).save(buffer, format="PNG")
    sop, series_uid = str(radiograph.SOPInstanceUID), str(radiograph.SeriesInstanceUID)
    content: dict[str, Any] = {
        "request": {"requested_by_user_id": world.clinician.pk, "requested_at": "2026-01-02T10:00:00+00:00"},
        "inputs": {"imaging": [{"series_uid": series_uid, "sop_instance_uids": [sop]}]},
        "imaging_findings": [{"kind": "classification", "series_uid": series_uid,
                              "model": {"key": "cxr_pneumonia", "version": "1.0.0", "weights_sha256": "ab" * 32},
                              "findings": {"predictions": [{
                                  "sop_instance_uid": sop, "label": "PNEUMONIA", "probability": 0.874, "threshold": 0.5,
                                  "positive": True,
                                  "heatmap_ref": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}]}}],
        "intended_use": "This report supports, not replaces, a clinician's judgement.",
    }
    report = Report.objects.create(
        patient=world.patient, version=1, status="final", content=content, content_sha256=content_sha256(content),
        created_by=world.clinician, signed_by=world.clinician, signed_at=timezone.now(),
        sr={"status": "pending", "documents": []})
    return report.pk


@pytest.fixture
def cxr_case(live: Any) -> Iterator[tuple[World, int]]:
    from pydicom.uid import generate_uid

    from tests.imaging.conftest import ct_dataset

    world = off_loop(world_build)
    radiograph = ct_dataset(study=generate_uid(), series=generate_uid(), patient_id=world.patient.mrn, rows=120, columns=100)
    radiograph.Modality, radiograph.SOPClassUID = "DX", "1.2.840.10008.5.1.4.1.1.1"
    radiograph.file_meta.MediaStorageSOPClassUID = radiograph.SOPClassUID
    radiograph.SeriesDescription, radiograph.BodyPartExamined = "AP chest", "CHEST"
    try:
        yield world, off_loop(_cxr_signed_report, world, radiograph)
    finally:
        orthanc_delete_study(str(radiograph.StudyInstanceUID))


def test_chest_xray_heatmap_beside_its_probability_on_the_page_and_in_the_pdf(
    open_session: Any, cxr_case: tuple[World, int],
) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    world, report_id = cxr_case
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/reports/{report_id}")
    figure = page.locator("#report-findings figure.report-heatmap")
    expect(figure).to_have_count(1)
    image = figure.locator("img")
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(figure).to_contain_text("Probability of pneumonia 87.4 % — above the model's threshold")
    expect(figure.locator(".report-heatmap-caveat")).to_contain_text("show where the network looked, not a lesion outline")
    expect(figure.locator("a.report-heatmap-open")).to_have_attribute("href", re.compile(r"^/studies/.*instance="))
    # The signed measurements are owed to the PACS as a DICOM SR: the page says so, signed or not.
    expect(page.locator("#report-sr")).to_have_attribute("data-sr-status", "pending")
    # One amend form for a signed version, one sign-off area (#22: never built twice).
    expect(page.locator("#amend-submit")).to_have_count(1)
    expect(page.locator("#sign-submit")).to_have_count(0)
    session.snap("report-cxr-heatmap")

    href = page.locator("#report-pdf").get_attribute("href") or ""
    answer = page.request.get(f"{session.base}{href}")
    assert answer.status == 200
    document = pdfium.PdfDocument(io.BytesIO(answer.body()))
    try:
        text = re.sub(r"\s+", " ", " ".join(p.get_textpage().get_text_range() for p in document))
        images = [obj.get_px_size() for p in document for obj in p.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
        document[0].render(scale=1.5).to_pil().save(SCREENSHOTS / f"{session.name}-cxr-pdf-page-1.png")
    finally:
        document.close()
    assert "Heatmap, image 1" in text and "Probability of pneumonia 87.4 %" in text
    assert "the radiograph (left) and the model's heatmap over it" in text, "the radiograph was not read from the PACS"
    assert "not a lesion outline" in text
    assert images, "the PDF holds no image"

# ruff: noqa: RUF001 (the document prints typographic minus, en dash and multiplication signs)
"""The clinical report document: what the page, the printable HTML and the PDF show.

The PDF is read back as text (pypdfium2) and its pages are rendered to PNG under
test-artifacts/report-pdf/ for a person to look at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from inference.models import Report
from inference.reports.exports import report_html, report_pdf
from inference.reports.key_images import key_images_for_document
from inference.reports.presentation import (
    DocumentContext,
    document_build,
    humanise_text,
    number_text,
    quantity_text,
    report_document,
)
from tests.conftest import World, client_for
from tests.inference.report_document_data import (
    SERIES_DESCRIPTION,
    MemoryPacs,
    liver_report_signed,
    phantom_link,
    phantom_with_seg,
)

pytestmark = pytest.mark.django_db

ARTEFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "report-pdf"
# What must never reach a reader: snake_case ids (score keys, input keys, model keys), the
# centroid's axis order, UCUM's bracketed units, raw JSON.
INTERNAL = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|zyx|\[[a-z]+'[A-Za-z]+\]|\{[A-Z]+\}|tta agreement|[{}]\"")


@pytest.fixture
def signed_liver_report(world: World) -> tuple[Report, MemoryPacs]:
    phantom, seg = phantom_with_seg(patient_id=world.patient.mrn)
    phantom_link(patient=world.patient, phantom=phantom)
    from tests.browser.data import panel_record

    panel_record(actor=world.clinician, patient=world.patient)
    report = liver_report_signed(clinician=world.clinician, patient=world.patient, phantom=phantom, seg=seg,
                                 comment="Agree; discuss at the liver MDT.")
    return report, MemoryPacs([*phantom.datasets, seg])


def _pdf_pages(pdf: bytes, *, save_as: str | None = None) -> list[str]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(io.BytesIO(pdf))
    texts = []
    try:
        for index, page in enumerate(document):
            texts.append(page.get_textpage().get_text_range())
            if save_as:
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                page.render(scale=1.5).to_pil().save(ARTEFACTS / f"{save_as}-page-{index + 1}.png")
    finally:
        document.close()
    return texts


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\r", " "))


def test_pdf_carries_patient_findings_key_images_models_signer_and_intended_use(
    world: World, signed_liver_report: tuple[Report, MemoryPacs],
) -> None:
    report, pacs = signed_liver_report
    pdf = report_pdf(report, fetch=pacs)
    pages = _pdf_pages(pdf, save_as="liver-report")
    text = _flat(" ".join(pages))
    patient = world.patient
    assert f"{patient.family_name.upper()}, {patient.given_name}" in text
    assert patient.mrn in text and "12 Apr 1965" in text and "Male" in text
    # Imaging findings in human units, under the series' description, not its UID.
    assert SERIES_DESCRIPTION in text and "CT abdomen (synthetic phantom)" in text
    lesion = report.content["imaging_findings"][0]["findings"]["lesions"][0]
    assert re.search(rf"{lesion['longest_axial_diameter']['value']:g} mm", text)
    assert re.search(r"Liver volume \d+(\.\d+)? mL", text) and re.search(r"\d+(\.\d+)? HU", text)
    assert "Key image, lesion 1" in text and "Yellow: this lesion's AI outline" in text
    # The clinician's review of the lesion: the decision, the corrected diameter beside the model's.
    assert f"accepted with changes as suspected HCC by {world.clinician.get_full_name()}" in text
    assert f"(corrected; model {lesion['longest_axial_diameter']['value']:g} mm)" in text
    # Every model: the imaging model and each cohort model, by name.
    assert "Liver and liver-lesion CT segmentation" in text
    for learned in report.content["learned_risk"]:
        from inference.reports.presentation import LEARNED_NAMES

        assert LEARNED_NAMES[learned["key"]] in text
    assert world.clinician.get_full_name() in text and "Signed by" in text
    assert "Agree; discuss at the liver MDT." in text
    assert "supports, not replaces, a clinician's judgement" in text
    assert _flat(report.content["intended_use"]) in text
    # Only computed scores in the table; the others in one compact line.
    scores_section = text[text.index("2. Scores"):text.index("Not computed:")]
    assert "FIB-4" in scores_section and "not computable" not in scores_section.lower()
    assert re.search(r"Not computed: [^.]*GALAD \(needs AFP", text)
    assert not INTERNAL.search(text), INTERNAL.findall(text)
    # The key image is an image in the PDF, read from the archive at export time.
    assert pdf.count(b"/Subtype /Image") >= 1
    assert report.content["imaging_findings"][0]["seg"]["sop_instance_uid"] in pacs.requests


def test_key_image_shows_the_lesion_slice_with_its_outline(world: World, signed_liver_report: tuple[Report, MemoryPacs]) -> None:
    from PIL import Image

    report, pacs = signed_liver_report
    document = report_document(report)
    images = key_images_for_document(document, report.content, fetch=pacs)
    image = images[(0, 1)]
    assert image.png is not None, image.caption
    import numpy as np

    pixels = np.asarray(Image.open(io.BytesIO(image.png)).convert("RGB")).reshape(-1, 3).astype(int)
    yellow = int(((pixels[:, 0] > 200) & (pixels[:, 1] > 180) & (pixels[:, 2] < 80)).sum())
    assert yellow > 30, "the lesion outline is drawn"
    lesion = document.imaging[0].lesions[0]
    first, last = report.content["imaging_findings"][0]["findings"]["lesions"][0]["slice_range"]
    assert lesion.key_slice is not None and first <= lesion.key_slice <= last
    assert lesion.key_instance_uid == report.content["inputs"]["imaging"][0]["sop_instance_uids"][lesion.key_slice]
    assert pacs.requests[-1] == lesion.key_instance_uid


def test_archive_down_leaves_the_report_printable(world: World, signed_liver_report: tuple[Report, MemoryPacs]) -> None:
    report, _pacs = signed_liver_report

    def down(study: str, series: str, instance: str) -> Any:
        raise ConnectionError("PACS unreachable")

    text = _flat(" ".join(_pdf_pages(report_pdf(report, fetch=down))))
    assert "Key image unavailable: the segmentation could not be read from the image archive." in text
    assert SERIES_DESCRIPTION in text and world.patient.mrn in text


def test_html_and_page_document_have_no_internal_keys(world: World, signed_liver_report: tuple[Report, MemoryPacs]) -> None:
    report, pacs = signed_liver_report
    html = report_html(report, fetch=pacs)
    visible = re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    assert not INTERNAL.search(visible), INTERNAL.findall(visible)
    assert "data:image/png;base64," in html and 'href="/studies/' in html
    assert "Supports" in visible or "supports" in visible
    for sid in report.content["scores"]:
        assert not re.search(rf"\b{sid}\b", visible), sid
    assert report.content["imaging_findings"][0]["series_uid"] not in visible
    document = report_document(report)
    leaks = [s for s in document.visible_strings() if INTERNAL.search(s)]
    assert not leaks


def test_lesion_rows_open_the_viewer_at_the_lesion_slice(world: World, signed_liver_report: tuple[Report, MemoryPacs]) -> None:
    report, _pacs = signed_liver_report
    body = client_for(world.clinician).get(f"/api/v1/reports/{report.pk}/").json()
    document = body["document"]
    lesion = document["imaging"][0]["lesions"][0]
    study_uid = report.content["imaging_findings"][0].get("study_uid") or document["imaging"][0]["study_uid"]
    assert lesion["viewer_href"] == (
        f"/studies/{study_uid}?patient={world.patient.pk}&series={report.content['imaging_findings'][0]['series_uid']}"
        f"&instance={lesion['key_instance_uid']}"
    )
    assert re.fullmatch(r"images \d+–\d+ of 24", lesion["slices"])
    assert document["header"]["signer"] == world.clinician.get_full_name()
    assert document["header"]["requester"] == world.clinician.get_full_name()
    assert document["header"]["state_label"] == "Signed"


def test_draft_without_imaging_says_it_is_a_draft_and_lists_no_noise() -> None:
    content: dict[str, Any] = {
        "request": {"requested_at": "2026-01-02T10:00:00+00:00"},
        "scores": {
            "fib4": {"computable": True, "value": 1.1, "category": "low", "details": {"low_cutoff": 1.3, "high_cutoff": 2.67},
                     "inputs_used": [{"name": "platelets", "code": "777-3", "value": 250, "unit": "10*9/L"}]},
            "galad": {"computable": False, "missing": ["afp_l3_percent", "dcp_ng_ml"]},
        },
        "recommendations": [{"title": "Liver function", "statement": "Liver function: albi -1.82 (2), meld_na 14.",
                             "evidence": [{"kind": "score", "id": "albi", "value": -1.82, "category": "2"}]}],
        "imaging_findings": [{"kind": "noop", "model": {"key": "noop"}}],
        "intended_use": "Supports, not replaces, a clinician's judgement.",
    }
    ctx = DocumentContext(patient_name="DOE, Jane", mrn="M1", birth_date=None, sex="female", state="draft", version=1,
                          created_at=None, signer="", signed_at=None, sign_comment="", requester="Dr Who")
    document = document_build(content, ctx)
    assert document.warnings[0].startswith("Draft: not signed")
    assert [s.name for s in document.scores] == ["FIB-4"]
    assert document.scores[0].interpretation.startswith("below the low cut-off 1.3")
    assert document.scores[0].inputs == "Platelets 250 ×10⁹/L"
    assert document.not_computed[0].value == "needs AFP-L3 %, DCP (PIVKA-II)"
    assert document.recommendations[0].statement == "Liver function: ALBI -1.82 (grade 2), MELD-Na 14."
    assert document.recommendations[0].evidence == ["ALBI −1.82 (grade 2)"]
    assert document.imaging == [] and document.signature == "Not signed."


@pytest.mark.parametrize(("raw", "text"), [
    ({"value": 89.4, "unit": "[hnsf'U]"}, "89.4 HU"),
    ({"value": 134.8, "unit": "mL"}, "135 mL"),
    ({"value": 6.5, "unit": "mm"}, "6.5 mm"),
    ({"value": 0.287, "unit": "mL"}, "0.287 mL"),
    ({"value": 131, "unit": "10*9/L"}, "131 ×10⁹/L"),
    ({"value": None, "unit": "mL"}, "—"),
])
def test_quantities_read_in_human_units(raw: dict[str, Any], text: str) -> None:
    assert quantity_text(raw) == text


def test_numbers_and_rule_text() -> None:
    assert number_text(-1.82) == "−1.82" and number_text(1510.24) == "1510" and number_text(2.0) == "2"
    assert humanise_text("child_pugh not computable (ascites; ecog_ps)") == "Child-Pugh not computable (ascites; ECOG performance status)"


def test_review_states_corrections_and_entered_lesions_are_shown() -> None:
    series = "1.2.3"
    lesion = {"longest_axial_diameter": {"value": 25.0, "unit": "mm"}, "volume": {"value": 3.1, "unit": "mL"},
              "mean_density": {"value": 40.0, "unit": "[hnsf'U]"}, "slice_range": [3, 5], "centroid_zyx": [4.0, 10.0, 10.0]}
    content: dict[str, Any] = {
        "imaging_findings": [{"kind": "segmentation", "series_uid": series, "model": {"key": "liver_ct_seg", "version": "1.1.0"},
                              "findings": {"lesion_count": 2, "lesions": [{"id": 1, **lesion}, {"id": 2, **lesion}]}}],
        "findings_review": {"state": "proposed", "notice": "Made from 1 AI finding(s) that no clinician has reviewed yet.",
                            "findings": [
            {"kind": "lesion", "source": "model", "source_ref": "lesion:1", "series_uid": series, "status": "edited",
             "label": "suspected_hcc", "values": {"longest_axial_diameter_mm": 21.0, "volume_ml": 3.1},
             "proposed": {"longest_axial_diameter_mm": 25.0, "volume_ml": 3.1}, "decided_by": "Ann Lee",
             "reason": "measured on the arterial phase"},
            {"kind": "lesion", "source": "model", "source_ref": "lesion:2", "series_uid": series, "status": "rejected",
             "label": "liver_lesion", "values": {}, "proposed": {}, "decided_by": "Ann Lee", "reason": "a vessel"},
            {"kind": "lesion", "source": "clinician", "source_ref": "entered:1", "series_uid": series, "status": "accepted",
             "label": "cyst", "values": {"longest_axial_diameter_mm": 8.0}, "proposed": {}, "decided_by": "Ann Lee", "reason": ""},
        ]},
    }
    ctx = DocumentContext(patient_name="DOE, Jane", mrn="M1", birth_date=None, sex="female", state="draft", version=2,
                          created_at=None, signer="", signed_at=None, sign_comment="", requester="Ann Lee")
    document = document_build(content, ctx)
    assert "Made from 1 AI finding(s) that no clinician has reviewed yet." in document.warnings
    first, second, entered = document.imaging[0].lesions
    assert first.diameter == "21 mm (corrected; model 25 mm)" and first.volume == "3.1 mL"
    assert first.review == "accepted with changes as suspected HCC by Ann Lee: measured on the arterial phase"
    assert second.review == "rejected by Ann Lee: a vessel"
    assert (entered.number, entered.diameter, entered.review) == (3, "8 mm", "entered by a clinician as cyst by Ann Lee")
    assert not [s for s in document.visible_strings() if INTERNAL.search(s)]


def test_key_image_magnifies_a_small_lesion_of_a_full_size_slice() -> None:
    import numpy as np
    from PIL import Image

    from inference.reports.key_images import PANEL_PX, key_image_render

    hu = np.full((512, 512), -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[0:512, 0:512]
    hu[((yy - 256) / 200) ** 2 + ((xx - 256) / 240) ** 2 <= 1] = 60.0
    lesion = (yy - 200) ** 2 + (xx - 150) ** 2 <= 6**2  # about 9 mm across at 0.75 mm pixels
    other = (yy - 320) ** 2 + (xx - 350) ** 2 <= 5**2
    hu[lesion | other] = 15.0
    png = key_image_render(hu=hu, lesion_mask=lesion | other, pixel_spacing_mm=(0.75, 0.75), centre_rc=(200.0, 150.0))
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert picture.shape == (PANEL_PX, 2 * PANEL_PX + 8, 3)
    zoom = picture[:, PANEL_PX + 8:]
    yellow = (zoom[..., 0] > 200) & (zoom[..., 1] > 180) & (zoom[..., 2] < 80)
    blue = (zoom[..., 0] < 60) & (zoom[..., 2] > 200)
    rows, cols = np.nonzero(yellow)
    # The magnified view (60 mm field) centres the lesion shown and leaves the other one out.
    assert abs(rows.mean() - PANEL_PX / 2) < 12 and abs(cols.mean() - PANEL_PX / 2) < 12
    assert np.ptp(rows) > 30, "magnified: a 9 mm lesion spans about 38 px of the 60 mm field (6 px in the whole image)"
    assert not blue.any()
    whole = picture[:, :PANEL_PX]
    assert ((whole[..., 0] < 60) & (whole[..., 2] > 200)).any(), "the other lesion is outlined in the whole image"


def test_chest_xray_report_prints_its_heatmap_and_a_draft_says_so_on_every_page(world: World) -> None:
    import base64

    from PIL import Image

    from inference.reports.content import content_sha256

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    heatmap = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    content: dict[str, Any] = {
        "request": {"requested_by_user_id": world.clinician.pk, "requested_at": "2026-01-02T10:00:00+00:00"},
        "imaging_findings": [{"kind": "classification", "series_uid": "1.2.3",
                              "model": {"key": "cxr_pneumonia", "version": "1.0.0", "weights_sha256": "ab" * 32},
                              "findings": {"predictions": [{"sop_instance_uid": "1.2.3.1", "label": "PNEUMONIA", "probability": 0.91,
                                                            "threshold": 0.5, "positive": True, "heatmap_ref": heatmap}]}}],
        "intended_use": "Supports, not replaces, a clinician's judgement.",
    }
    report = Report.objects.create(patient=world.patient, version=1, content=content, content_sha256=content_sha256(content),
                                   created_by=world.clinician)
    text = _flat(" ".join(_pdf_pages(report_pdf(report, fetch=MemoryPacs([])), save_as="cxr-draft")))
    assert "Probability of pneumonia 91.0 % — above the model's threshold (50.0 %)" in text
    assert "Heatmap, image 1" in text and "Paediatric chest X-ray pneumonia classifier" in text
    assert "Draft: not signed." in text and text.count("DRAFT · NOT SIGNED") >= 1
    assert "Signed by not signed" in text and "Not signed." in text and world.clinician.get_full_name() in text
    # Without the radiograph (no image in the archive) the heatmap is shown alone, and says so.
    assert "the model's heatmap alone" in text and "Grad-CAM maps are coarse" in text
    html = report_html(report, fetch=MemoryPacs([]))
    assert html.count('class="heatmap"') == 1 and "the model&#x27;s heatmap alone" in html


def _pdf_images(pdf: bytes) -> list[tuple[int, int]]:
    """(width, height) in pixels of each image placed in the PDF."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument(io.BytesIO(pdf))
    try:
        return [tuple(obj.get_px_size()) for page in document
                for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
    finally:
        document.close()


def test_chest_xray_heatmap_is_a_key_image_over_the_radiograph_beside_its_probability(world: World) -> None:
    import base64
    import datetime as dt

    import numpy as np
    from PIL import Image
    from pydicom.uid import generate_uid

    from imaging.models import ImagingSeries, ImagingStudy, LinkSource
    from inference.reports.content import content_sha256
    from inference.reports.key_images import PANEL_PX
    from tests.imaging.conftest import ct_dataset

    study_uid, series_uid = generate_uid(), generate_uid()
    radiograph = ct_dataset(study=study_uid, series=series_uid, patient_id=world.patient.mrn, rows=96, columns=80)
    radiograph.Modality = "DX"
    study = ImagingStudy.objects.create(patient=world.patient, study_instance_uid=study_uid, study_date=dt.date(2025, 1, 2),
                                        description="Chest X-ray", modalities="DX", link_source=LinkSource.UPLOAD,
                                        dicom_patient_id=world.patient.mrn)
    ImagingSeries.objects.create(study=study, series_instance_uid=series_uid, modality="DX", description="AP chest")
    hot = np.zeros((32, 32), dtype=np.uint8)
    hot[4:12, 20:28] = 255  # hot in the upper right
    buffer = io.BytesIO()
    Image.fromarray(hot).save(buffer, format="PNG")
    heatmap = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    sop = str(radiograph.SOPInstanceUID)
    content: dict[str, Any] = {
        "request": {"requested_by_user_id": world.clinician.pk, "requested_at": "2026-01-02T10:00:00+00:00"},
        "inputs": {"imaging": [{"series_uid": series_uid, "sop_instance_uids": [sop]}]},
        "imaging_findings": [{"kind": "classification", "series_uid": series_uid,
                              "model": {"key": "cxr_pneumonia", "version": "1.0.0", "weights_sha256": "ab" * 32},
                              "findings": {"predictions": [{"sop_instance_uid": sop, "label": "PNEUMONIA", "probability": 0.913,
                                                            "threshold": 0.5, "positive": True, "heatmap_ref": heatmap}]}}],
        "intended_use": "Supports, not replaces, a clinician's judgement.",
    }
    report = Report.objects.create(patient=world.patient, version=1, content=content, content_sha256=content_sha256(content),
                                   created_by=world.clinician)
    document = report_document(report)
    [block] = document.imaging
    [shown] = block.heatmaps
    # The page's document: the heatmap in colour, the probability it explains, the card's caveat.
    assert shown.result.startswith("Probability of pneumonia 91.3 %")
    assert "Grad-CAM maps are coarse" in shown.caveat and "not a lesion outline" in shown.caveat
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown.image.split(",", 1)[1]))).convert("RGB")).astype(int)
    assert picture[8, 24, 0] > 100 and picture[8, 24, 1] < 60 and picture[8, 24, 2] < 60  # hot: red
    assert picture[24, 4, 2] > 120 and picture[24, 4, 0] < 80  # cold: blue
    assert shown.viewer_href is not None and f"instance={sop}" in shown.viewer_href
    assert not any(shown.image in text for text in document.visible_strings())

    pacs = MemoryPacs([radiograph])
    pdf = report_pdf(report, fetch=pacs)
    text = _flat(" ".join(_pdf_pages(pdf, save_as="cxr-heatmap")))
    assert "Heatmap, image 1" in text and "Probability of pneumonia 91.3 %" in text
    assert "the radiograph (left) and the model's heatmap over it" in text and "Grad-CAM maps are coarse" in text
    # The key image: radiograph and overlay side by side, at the radiograph's proportions.
    height = PANEL_PX
    width = round(80 * PANEL_PX / 96)
    assert (2 * width + 8, height) in _pdf_images(pdf)
    assert pacs.requests == [sop]
    html = report_html(report, fetch=MemoryPacs([radiograph]))
    assert 'class="heatmap"' in html and "Grad-CAM maps are coarse" in html


def test_fhir_bundle_speaks_in_names(world: World, signed_liver_report: tuple[Report, MemoryPacs]) -> None:
    from inference.reports.exports import report_fhir_bundle

    report, _pacs = signed_liver_report
    bundle = report_fhir_bundle(report)
    diagnostic = bundle["entry"][0]["resource"]
    risk = bundle["entry"][1]["resource"]
    texts = [diagnostic["conclusion"], *(p["outcome"]["text"] for p in risk["prediction"])]
    assert "FIB-4: high" in texts and "ALBI: grade 2" in texts
    assert not [t for t in texts if INTERNAL.search(t)]


def test_score_inputs_read_as_answers() -> None:
    content: dict[str, Any] = {"scores": {"child_pugh": {
        "computable": True, "value": 9, "category": "B",
        "inputs_used": [{"name": "ascites", "value": "moderate_severe"}, {"name": "encephalopathy", "value": "grade_1_2"},
                        {"name": "dialysis_twice_past_week", "value": None}, {"name": "ast_upper_limit_normal_u_l", "value": 40, "unit": "U/L"}],
    }}}
    ctx = DocumentContext(patient_name="DOE, Jane", mrn="M1", birth_date=None, sex="female", state="draft", version=1,
                          created_at=None, signer="", signed_at=None, sign_comment="", requester="")
    line = document_build(content, ctx).scores[0]
    assert line.inputs == ("Ascites moderate or severe; Encephalopathy grade 1–2; Dialysis in the past week not stated; "
                           "AST upper limit of normal 40 U/L")
    assert line.interpretation == "class B (7–9 points, significant functional compromise)"

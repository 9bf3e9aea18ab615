"""The whole result lifecycle in the browser, with a real Celery worker: an analysis proposes
two liver lesions; a clinician rejects one and accepts the other in the viewer, which makes a
new draft whose staging counts one tumour; the draft made from proposed findings cannot be
signed; the reviewed draft is signed and released; the patient then reads the plain version
only, and a later analysis's draft does not displace the signed version."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from inference.analysis.services import analysis_request_create
from inference.models import AnalysisRequest, AnalysisStatus, Report
from tests.browser.data import off_loop, panel_record
from tests.browser.phantom import PhantomStudy, ct_phantom, orthanc_delete_study
from tests.browser.test_viewer import _upload
from tests.conftest import World, world_build

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# What the test model proposes: a "lesion" spanning every slice (the artefact a clinician
# rejects) and a small one (accepted).
LESIONS = [
    {"diameter_mm": 81.0, "volume_ml": 134.8, "slices": [0, 23]},
    {"diameter_mm": 18.0, "volume_ml": 2.1, "slices": [12, 16]},
]


def _world_with_labs() -> World:
    world = world_build()
    panel_record(actor=world.clinician, patient=world.patient)
    return world


@pytest.fixture
def ct_world(live: Any) -> Iterator[tuple[World, PhantomStudy]]:
    world = off_loop(_world_with_labs)
    phantom = ct_phantom(patient_id=world.patient.mrn)
    off_loop(_upload, world, phantom)
    try:
        yield world, phantom
    finally:
        orthanc_delete_study(phantom.study_uid)


def _analyse(world: World, key: str, series: list[str], options: dict[str, Any]) -> int:
    analysis, _, _ = analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=series,
                                             model_keys=["noop"], idempotency_key=key, options=options)
    return analysis.pk


def _report_of(analysis_id: int, timeout: float = 120.0) -> Report:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        analysis = AnalysisRequest.objects.get(pk=analysis_id)
        if analysis.status == AnalysisStatus.FAILED:
            raise AssertionError(f"analysis failed: {analysis.error_code} {analysis.error_message}")
        report = Report.objects.filter(request_id=analysis_id).first()
        if analysis.status == AnalysisStatus.SUCCEEDED and report is not None:
            return report
        time.sleep(0.5)
    raise AssertionError("the analysis did not finish in time")


def _reports(world: World) -> dict[int, Report]:
    return {r.version: r for r in Report.objects.filter(patient=world.patient)}


def test_lifecycle_review_sign_release_patient(
    ct_world: tuple[World, PhantomStudy], open_session: Any, celery_worker_process: Any,
) -> None:
    world, phantom = ct_world
    first = off_loop(_analyse, world, "lifecycle-ct", [phantom.series_uid], {"noop_lesions": LESIONS})
    v1 = off_loop(_report_of, first)
    assert v1.content["findings_review"]["proposed"] == 2
    assert "tumour_count" not in v1.content["staging"]  # proposals count for nothing

    clinician = open_session(world.clinician, label="clinician")
    page = clinician.page

    # The draft made from proposed findings says so at the top and cannot be signed.
    clinician.goto(f"/reports/{v1.pk}")
    review = page.locator("#finding-review .finding-review")
    expect(review.locator(".finding-review-notice")).to_contain_text("2 AI finding(s) proposed")
    expect(page.locator("#sign-blocked")).to_have_attribute("data-code", "report_findings_undecided")
    assert page.locator("#sign-submit").count() == 0
    clinician.snap("draft-with-proposed-findings")

    # In the viewer: reject the artefact with the reason, accept the small lesion.
    clinician.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    panel = page.locator("#ai-findings .finding-review")
    big = panel.locator(".finding-row[data-ref='lesion:1']")
    expect(big).to_have_attribute("data-status", "proposed", timeout=30_000)
    big.locator("button[data-action=reject]").click()
    panel.locator(".finding-form textarea[name=reason]").fill("Spans every slice: partial-volume artefact, not a lesion.")
    panel.locator(".finding-form button[data-action=confirm]").click()
    expect(big).to_have_attribute("data-status", "rejected")
    expect(big).to_contain_text(world.clinician.get_full_name())
    small = panel.locator(".finding-row[data-ref='lesion:2']")
    small.locator("button[data-action=accept]").click()
    expect(small).to_have_attribute("data-status", "accepted")
    expect(panel.locator(".finding-review-done")).to_be_visible()
    clinician.snap("viewer-findings-reviewed")
    draft_link = panel.locator("a.finding-review-draft")
    expect(draft_link).to_contain_text("(draft)")

    # The newest draft counts one tumour; staging changed from "awaiting review".
    reports = off_loop(_reports, world)
    reviewed = reports[max(reports)]
    assert reviewed.derived_from_id is not None and reviewed.status == "draft"
    assert reviewed.content["staging"]["tumour_count"] == 1
    assert reviewed.content["staging"]["tumour_source"] == "CT findings reviewed by a clinician"
    draft_link.click()
    page.wait_for_url(f"**/reports/{reviewed.pk}")
    expect(page.locator("#report-status")).to_have_text("draft")
    expect(page.locator("#finding-review .finding-row[data-status=rejected]")).to_have_count(1)
    clinician.snap("reviewed-draft")

    # Sign, then release: two separate steps.
    page.fill("textarea[name=comment]", "Lesion 1 is an artefact; one small lesion for MDT.")
    page.click("#sign-submit")
    expect(page.locator("#report-status")).to_have_text("signed")
    expect(page.locator("#release-submit")).to_be_visible()
    page.click("#release-submit")
    expect(page.locator("#report-released")).to_contain_text("Released to the patient")
    clinician.snap("signed-and-released")

    # A later analysis makes a draft beside the signed version, which stays current.
    later = off_loop(_analyse, world, "lifecycle-later", [], {})
    later_draft = off_loop(_report_of, later)
    current = page.request.get(f"{clinician.base}/api/v1/patients/{world.patient.id}/reports/").json()
    by_id = {row["id"]: row for row in current}
    assert by_id[reviewed.pk]["status"] == "final" and by_id[reviewed.pk]["current"] is True
    assert by_id[later_draft.pk]["status"] == "draft" and by_id[later_draft.pk]["current"] is False
    assert by_id[reviewed.pk]["superseded_by"] is None

    # The patient reads the released version, in plain language, and nothing else.
    patient = open_session(world.patient_user, label="patient")
    patient.allow_errors("404")
    patient.goto(f"/reports/{reviewed.pk}")
    expect(patient.page.locator(".patient-version")).to_be_visible()
    expect(patient.page.locator("#intended-use")).to_contain_text("checked and signed by your clinician")
    expect(patient.page.locator("#report-models")).to_have_count(0)
    expect(patient.page.locator("#finding-review")).to_have_count(0)
    body = patient.page.locator("body").inner_text()
    for internal in ("noop", "SHA-256", "tumour_count", "lesion:1"):
        assert internal not in body, internal
    patient.snap("patient-version")
    api = patient.page.request
    detail = api.get(f"{patient.base}/api/v1/reports/{reviewed.pk}/").json()
    assert detail["schema"] == "cdss.report.patient/1" and "content" not in detail
    assert [r["id"] for r in api.get(f"{patient.base}/api/v1/patients/{world.patient.id}/reports/").json()] == [reviewed.pk]
    for hidden in (v1.pk, later_draft.pk):
        assert api.get(f"{patient.base}/api/v1/reports/{hidden}/").status == 404
        for fmt in ("pdf", "html", "fhir"):
            assert api.get(f"{patient.base}/api/v1/reports/{hidden}/export/{fmt}/").status == 404
    assert api.get(f"{patient.base}/api/v1/analyses/{first}/").status == 404
    pdf = api.get(f"{patient.base}/api/v1/reports/{reviewed.pk}/export/pdf/")
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"

"""Analyses and reports in the browser, with a real Celery worker: live progress in two
browsers at once, the report appearing without a reload, sign-off, PDF; failure and retry."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inference.models import AnalysisRequest, AnalysisStatus
from tests.browser.data import off_loop, panel_record
from tests.conftest import World, world_build

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _world_with_labs() -> World:
    world = world_build()
    panel_record(actor=world.clinician, patient=world.patient)
    return world


def test_analysis_runs_live_in_two_browsers_then_report_is_signed(open_session: Any, celery_worker_process: Any) -> None:
    world = off_loop(_world_with_labs)
    clinician = open_session(world.clinician)
    consultant = open_session(world.consultant)
    for session in (clinician, consultant):
        session.goto(f"/patients/{world.patient.id}")
        expect(session.page.locator(".connection")).to_have_attribute("data-state", "live")
        expect(session.page.locator("#card-reports .reports")).to_contain_text("No reports yet")
    assert consultant.page.locator("#analyse-open").count() == 0

    page = clinician.page
    page.click("#analyse-open")
    dialog = page.locator("dialog.dialog")
    expect(dialog.locator("input[name=models][value=noop]")).to_be_visible()
    dialog.locator("input[name=models][value=noop]").check()
    clinician.snap("analyse-dialog")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)

    # Both browsers follow the same request to its report, without reloading.
    for session in (clinician, consultant):
        session.page.evaluate("() => { window.__sameDocument = true; }")
    for session in (clinician, consultant):
        item = session.page.locator("#card-reports li.analysis").first
        expect(item).to_have_attribute("data-status", "succeeded", timeout=90_000)
        expect(session.page.locator("#card-reports .report-list li")).to_have_count(1)
        assert session.page.evaluate("() => window.__sameDocument === true")
    consultant.snap("report-ready")

    page.locator("#card-reports .report-ready-link").first.click()
    page.wait_for_url(re.compile(r"/reports/\d+$"))
    expect(page.locator("#intended-use")).to_contain_text("does not replace")
    expect(page.locator("#report-scores li[data-score=fib4]")).to_be_visible()
    expect(page.locator("#report-models")).to_contain_text("Content SHA-256")
    expect(page.locator("#report-recommendations")).to_be_visible()
    clinician.snap("report")

    pdf = page.locator("#report-pdf").get_attribute("href") or ""
    answer = page.request.get(f"{clinician.base}{pdf}")
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.body()[:5] == b"%PDF-"

    page.fill("textarea[name=comment]", "Reviewed with the patient.")
    page.click("#sign-submit")
    expect(page.locator("#report-signed")).to_contain_text("Reviewed with the patient.")
    expect(page.locator("#report-status")).to_have_text("signed")
    clinician.snap("signed")

    # An amendment is a new draft beside the signed version, which stays current until the
    # amendment is signed.
    signed_url = page.url
    page.click("#report-signoff summary")
    page.fill("textarea[name=text]", "Platelets repeated: 128.")
    page.click("#amend-submit")
    page.wait_for_url(lambda url: url != signed_url and "/reports/" in url)
    expect(page.locator("h1")).to_contain_text("Report v2")
    expect(page.locator(".amendment")).to_contain_text("Platelets repeated: 128.")
    expect(page.locator("#report-versions li")).to_have_count(2)
    expect(page.locator("#report-versions [data-currency=draft]")).to_have_text("draft")
    expect(page.locator("#report-versions [data-currency=current]")).to_have_text("current")
    page.click("#sign-submit")
    expect(page.locator("#report-status")).to_have_text("signed")
    expect(page.locator("#report-versions [data-currency=superseded]")).to_have_text("amended by v2")
    clinician.snap("amended")

    # The consultant may read the report but not sign it.
    consultant.goto(signed_url.replace(clinician.base, ""))
    expect(consultant.page.locator("#report-signed")).to_be_visible()
    assert consultant.page.locator("#sign-submit").count() == 0


def _failed_analysis(world: World) -> AnalysisRequest:
    return AnalysisRequest.objects.create(
        patient=world.patient, requested_by=world.clinician, idempotency_key="failed-earlier",
        series_uids=[], model_keys=["noop"], status=AnalysisStatus.FAILED, current_step="failed",
        error_code="pacs_unavailable", error_message="The image server did not answer.", finished_at=timezone.now(),
    )


def test_failed_analysis_shows_message_and_retries(open_session: Any, celery_worker_process: Any) -> None:
    world = off_loop(_world_with_labs)
    failed = off_loop(_failed_analysis, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    item = page.locator(f"#card-reports li.analysis[data-analysis='{failed.id}']")
    expect(item.locator(".analysis-error")).to_contain_text("The image server did not answer.")
    session.snap("failed")
    item.locator("button", has_text="Retry").click()
    newest = page.locator("#card-reports li.analysis").first
    expect(newest).not_to_have_attribute("data-analysis", str(failed.id))
    expect(newest).to_have_attribute("data-status", "succeeded", timeout=90_000)
    expect(page.locator("#card-reports .report-list li")).to_have_count(1)
    session.snap("retried")

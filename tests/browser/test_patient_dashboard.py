"""The patient's own dashboard in Chromium at phone and desktop widths: released results
explained and drafts never shown, no sideways scrolling, 44 px targets, lab trends in a unit
the patient picks, "download my record" (FHIR validated, PDF), axe-core clean."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import expect

from cdss.audit.models import AuditEvent
from inference.models import Report
from inference.reports.content import content_sha256
from inference.reports.services import report_release, report_sign
from patients.models import GeneticFinding
from tests.browser.axe import axe_assert_clean
from tests.browser.data import off_loop, panel_record
from tests.conftest import World, world_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = (390, 844)
DESKTOP = (1440, 900)
DRAFT_AMAP = 88.88


def _content(amap: float, category: str) -> dict[str, Any]:
    return {
        "schema": "cdss.report/1",
        "scores": {
            "amap": {"computable": True, "value": amap, "category": category, "missing": []},
            "fib4": {"computable": True, "value": 2.91, "category": "high", "missing": []},
            "galad": {"computable": False, "value": None, "category": None, "missing": ["afp_l3"]},
        },
        "modifiers": [{"factor": "PNPLA3 rs738409 GG", "present": True}],
        "recommendations": [{"id": "hcc", "domain": "hcc_risk", "title": "HCC surveillance", "statement": "US +/- AFP every 6 months"}],
        "intended_use": "Supports, not replaces, the clinician's judgement.",
    }


@dataclass
class Setup:
    world: World
    released: Report
    draft: Report


def _build() -> Setup:
    world = world_build()
    panel_record(actor=world.clinician, patient=world.patient)
    GeneticFinding.objects.create(patient=world.patient, gene="PNPLA3", rsid="rs738409", genotype="G/G", reported_on="2025-03-04")
    content = _content(71.69, "high")
    first = Report.objects.create(patient=world.patient, version=1, content=content, content_sha256=content_sha256(content))
    released = report_release(actor=world.clinician, report=report_sign(actor=world.clinician, report=first))
    draft_content = _content(DRAFT_AMAP, "high")
    draft = Report.objects.create(patient=world.patient, version=2, content=draft_content, content_sha256=content_sha256(draft_content))
    return Setup(world=world, released=released, draft=draft)


def _pdf_text(pdf: bytes) -> str:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return re.sub(r"\s+", " ", " ".join(page.get_textpage().get_text_range() for page in document))
    finally:
        document.close()


def _no_sideways_scroll(page: Any, width: int) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at {width} px: scrollWidth {widths[0]} > clientWidth {widths[1]}"


def _small_targets(page: Any, selector: str) -> list[str]:
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el, el.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && (r.height < 44 || r.width < 44))
            .map(([el, r]) => `${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        selector,
    )


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1440x900"])
def test_dashboard_released_explained_draft_never_shown(open_session: Any, viewport: tuple[int, int], tmp_path: Path) -> None:
    setup = off_loop(_build)
    session = open_session(setup.world.patient_user, viewport=viewport, label=f"patient-{viewport[0]}")
    page = session.page
    page.wait_for_url(re.compile(r"/dashboard$"))
    report = page.locator(f"#pt-reports article[data-report='{setup.released.pk}']")
    expect(report).to_be_visible()
    assert page.locator(f"[data-report='{setup.draft.pk}']").count() == 0
    assert str(DRAFT_AMAP) not in page.inner_text("body")

    amap = report.locator("li[data-score=amap]")
    expect(amap.locator(".pt-score-value")).to_have_text("71.69")
    expect(amap.locator(".pt-meaning")).to_contain_text("does not mean you have cancer")
    amap.locator("summary").click()
    expect(amap.locator(".pt-more")).to_contain_text("Questions you could ask")
    expect(amap.locator(".pt-source")).to_contain_text("Fan R")
    expect(report.locator("[data-factor]")).to_contain_text("PNPLA3")
    gene = page.locator("#pt-genetics li[data-gene=PNPLA3]")
    expect(gene.locator(".pt-meaning")).to_contain_text("two copies")  # the genotype comes with its meaning
    expect(page.locator("#pt-scores li[data-score=amap]")).to_contain_text("71.69")
    session.snap("dashboard")

    # Labs: latest against the usual range, and the history in a unit the patient chooses.
    alt = page.locator("#pt-labs li[data-analyte=alt]")
    expect(alt.locator(".pt-lab-range")).to_contain_text("Above the usual range")
    alt.locator("details.pt-trend > summary").click()
    expect(alt.locator("svg.pt-chart")).to_be_visible()
    expect(alt.locator(".pt-trend-value").first).to_have_text("71.0")
    alt.locator("select").select_option("ukat/L")
    expect(alt.locator(".pt-trend-area")).to_have_attribute("data-unit", "ukat/L")
    expect(alt.locator(".pt-trend-value").first).to_have_text("1.18")
    session.snap("trend")

    _no_sideways_scroll(page, viewport[0])
    small = _small_targets(page, ".pt-page a, .pt-page button, .pt-page summary, .pt-page select")
    assert not small, f"touch targets under 44 px: {small}"
    if viewport == PHONE:
        small = _small_targets(page, ".topbar a:not(.skip-link), .topbar button")
        assert not small, f"top bar targets under 44 px: {small}"
        for width in (360, 430):
            page.set_viewport_size({"width": width, "height": 844})
            _no_sideways_scroll(page, width)
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    else:
        # 200 % zoom of a 1440 px window is a 720 px wide layout; 400 % (WCAG reflow) is 360 px.
        for width in (720, 360):
            page.set_viewport_size({"width": width, "height": 450})
            _no_sideways_scroll(page, width)
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})

    minor = axe_assert_clean(page, f"dashboard at {viewport[0]} px")
    (tmp_path / "axe.json").write_text(json.dumps(minor))

    # Download my record: FHIR R4 Bundle (released report only) and the PDF summary, both audited.
    with page.expect_download() as fhir_info:
        page.click("#download-fhir")
    bundle: Any = Bundle.model_validate_json(Path(fhir_info.value.path()).read_bytes())
    reports = [e.resource for e in bundle.entry if e.resource.__resource_type__ == "DiagnosticReport"]
    assert [r.id for r in reports] == [f"r{setup.released.pk}"]
    assert bundle.entry[0].resource.__resource_type__ == "Patient"
    with page.expect_download() as pdf_info:
        page.click("#download-pdf")
    summary = _pdf_text(Path(pdf_info.value.path()).read_bytes())
    patient = setup.world.patient
    assert "My health record summary" in summary and patient.family_name in summary and patient.mrn in summary
    assert f"From report version {setup.released.version}," in summary  # the released one, not the draft
    exports = off_loop(lambda: sorted(AuditEvent.objects.filter(object_type="patient_record", actor_id=setup.world.patient_user.pk)
                                      .values_list("detail__format", flat=True)))
    assert exports == ["fhir-r4", "pdf-summary"]
    session.snap("downloads")


def test_dashboard_before_anything_is_released(open_session: Any) -> None:
    world = off_loop(world_build)
    session = open_session(world.patient_user, viewport=PHONE, label="patient-empty")
    page = session.page
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("#pt-reports")).to_contain_text("has not released a report")
    expect(page.locator("#pt-labs")).to_contain_text("No blood test results")
    _no_sideways_scroll(page, PHONE[0])
    axe_assert_clean(page, "empty dashboard")
    session.snap("empty")
    # A report released while the page is open appears without a reload (the patient's socket).
    def release() -> int:
        content = _content(71.69, "high")
        report = Report.objects.create(patient=world.patient, version=1, content=content, content_sha256=content_sha256(content))
        return report_release(actor=world.clinician, report=report_sign(actor=world.clinician, report=report)).pk

    released = off_loop(release)
    expect(page.locator(f"#pt-reports article[data-report='{released}']")).to_be_visible()
    expect(page.locator("#pt-scores li[data-score=amap]")).to_contain_text("71.69")
    # Their own record by its clinical URL is their dashboard: explained results, never the raw view.
    session.goto(f"/patients/{world.patient.pk}")
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("#pt-reports")).to_be_visible()


def test_another_patients_data_is_not_reachable_from_the_portal(open_session: Any) -> None:
    setup = off_loop(_build)
    session = open_session(setup.world.other_patient_user, viewport=PHONE, label="other-patient")
    page = session.page
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.wait_for_selector("#pt-reports")
    assert page.locator("[data-report]").count() == 0
    pid = setup.world.patient.pk
    for path in (f"/api/v1/patients/{pid}/results/", f"/api/v1/patients/{pid}/record/fhir/", f"/api/v1/patients/{pid}/record/pdf/",
                 f"/api/v1/reports/{setup.released.pk}/"):
        status = page.evaluate("(url) => fetch(url).then((r) => r.status)", path)
        assert status == 404, path
    session.goto(f"/reports/{setup.released.pk}")
    page.wait_for_selector("text=/not found/i")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390x844", "1440x900"])
def test_patient_messages_the_care_team_and_reads_the_reply(open_session: Any, viewport: tuple[int, int]) -> None:
    world = off_loop(world_build)
    patient = open_session(world.patient_user, viewport=viewport, label=f"patient-{viewport[0]}")
    page = patient.page
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.locator("#care-messages .pt-message-empty")).to_be_visible()
    page.fill("#care-messages textarea", "Is my liver cancer score something to worry about?")
    page.click("#care-message-send")
    mine = page.locator("#care-messages li.pt-message-mine")
    expect(mine).to_contain_text("Is my liver cancer score")
    expect(mine.locator(".pt-receipt")).to_have_text("Sent")
    _no_sideways_scroll(page, viewport[0])
    axe_assert_clean(page, f"dashboard messages at {viewport[0]} px")
    patient.snap("message-sent")

    clinician = open_session(world.clinician, label="clinician")
    their = clinician.page
    clinician.goto(f"/patients/{world.patient.pk}")
    incoming = their.locator("#care-messages li.pt-message").first
    expect(incoming).to_contain_text("Is my liver cancer score")
    their.fill("#care-messages textarea", "No need to worry: we will talk it through at your next visit.")
    their.click("#care-message-send")
    expect(their.locator("#care-messages li.pt-message-mine")).to_contain_text("No need to worry")
    clinician.snap("reply")

    # The patient's open page learns of the reply over the thread socket, and sees their own
    # message marked read by the care team.
    reply = page.locator("#care-messages li.pt-message:not(.pt-message-mine)")
    expect(reply).to_contain_text("No need to worry")
    expect(mine.locator(".pt-receipt")).to_have_text("Read by your care team")
    patient.snap("reply-read")
    expect(their.locator("#care-messages li.pt-message-mine .pt-receipt")).to_have_text("Read by the patient")

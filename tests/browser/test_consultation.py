"""A telemedicine consultation end to end in two Chromium contexts (clinician, consultant):
request -> accept -> both in the room -> the consultant's viewer follows slice and window ->
a message each way -> a video call with fake devices (both see a live remote track) -> the
signed opinion on the clinician's patient page -> close, and the consultant's room ends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from cdss.accounts.models import Role
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.data import off_loop
from tests.browser.phantom import PhantomStudy, ct_phantom, orthanc_delete_study
from tests.browser.test_viewer import _upload
from tests.conftest import World, world_build
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]

MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Chromium with fake camera and microphone, and no permission prompt."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *MEDIA_ARGS], headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def consult_world(live: Any) -> Iterator[tuple[World, Any, PhantomStudy]]:
    world = off_loop(world_build)
    consultant = off_loop(lambda: UserFactory.create(role=Role.CONSULTANT, first_name="Kim", last_name="Remote"))
    phantom = ct_phantom(patient_id=world.patient.mrn)
    try:
        off_loop(_upload, world, phantom)
        yield world, consultant, phantom
    finally:
        orthanc_delete_study(phantom.study_uid)


def test_consultation_request_room_call_and_opinion(open_session: Any, consult_world: tuple[World, Any, PhantomStudy]) -> None:
    world, consultant_user, _phantom = consult_world
    patient = world.patient
    consultant = open_session(consultant_user, label="consultant")
    failures: list[str] = []
    consultant.page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    consultant.goto("/consultations")
    expect(consultant.page.locator("#consult-inbox")).to_be_visible()
    consultant.page.wait_for_selector("body[data-inbox=live]", state="attached")

    clinician = open_session(world.clinician, label="clinician")
    clinician.goto(f"/patients/{patient.id}")
    clinician.page.click("#request-consultation")
    clinician.page.fill("#consult-question", "Segment 7 lesion: LI-RADS 5?")
    clinician.page.select_option("#consult-urgency", "urgent")
    clinician.page.select_option("#consult-consultant", f"u{consultant_user.pk}")
    clinician.page.fill("#consult-hours", "2")
    clinician.page.click("#consult-submit")
    mine = clinician.page.locator("#card-consultations .consult-row", has_text="Segment 7 lesion")
    expect(mine).to_have_count(1)
    clinician.snap("requested")

    # The request arrives in the consultant's open inbox without a reload.
    row = consultant.page.locator("#consult-inbox .consult-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Segment 7 lesion")
    expect(row).to_contain_text("de-identified")
    consultant.snap("inbox")
    row.locator("[data-action=accept]").click()
    consultant.page.wait_for_url(re.compile(r"/consultations/\d+$"))
    room_path = consultant.page.url.split(consultant.base, 1)[1]

    clinician.goto(room_path)
    for side in (clinician, consultant):
        expect(side.page.locator("#room-presence li")).to_have_count(2)
        expect(side.page.locator(".consult-room")).to_have_attribute("data-room", "live")
    # De-identified: the consultant's page never shows the patient's name or MRN.
    for text in (patient.family_name, patient.given_name, patient.mrn):
        assert text not in consultant.page.content()
    viewer = consultant.page.locator("#room-viewer")
    expect(viewer).to_have_attribute("data-role", "follower")
    expect(viewer).to_have_attribute("data-slices", "24")

    # The clinician leads: slice and window changes reach the consultant's viewer.
    clinician.page.locator("#room-slice").fill("11")
    clinician.page.fill("#room-ww", "1500")
    clinician.page.locator("#room-ww").dispatch_event("change")
    clinician.page.fill("#room-wc", "-500")
    clinician.page.locator("#room-wc").dispatch_event("change")
    expect(viewer).to_have_attribute("data-slice", "11")
    expect(viewer).to_have_attribute("data-ww", "1500")
    expect(viewer).to_have_attribute("data-wc", "-500")
    assert consultant.page.eval_on_selector("#room-image", "img => img.complete && img.naturalWidth > 0"), failures
    consultant.snap("following")

    # A message each way, the first with the image on show attached.
    clinician.page.fill("#room-message-input", "Arterial enhancement here, washout on the delayed phase.")
    clinician.page.check("#room-attach-image")
    clinician.page.click("#room-message-send")
    expect(consultant.page.locator("#room-messages > li")).to_have_count(1)
    expect(consultant.page.locator("#room-messages li [data-attachment=key_image]")).to_have_count(1)
    consultant.page.fill("#room-message-input", "Agreed. Any prior imaging?")
    consultant.page.click("#room-message-send")
    expect(clinician.page.locator("#room-messages > li")).to_have_count(2)
    expect(clinician.page.locator("#room-messages")).to_contain_text("Any prior imaging?")
    expect(consultant.page.locator("#room-messages > li")).to_have_count(2)

    # A video call between the two browsers (fake devices, no STUN/TURN on loopback).
    clinician.page.click("#room-call")
    for side in (clinician, consultant):
        expect(side.page.locator(".room-call")).to_have_attribute("data-remote-live", "true", timeout=30_000)
        side.page.wait_for_function(
            "() => { const v = document.querySelector('#room-remote-video'); const s = v && v.srcObject;"
            " return !!s && s.getTracks().some((t) => t.readyState === 'live'); }", timeout=30_000)
    clinician.snap("call")

    # The consultant signs a structured opinion; it is on the clinician's patient page.
    consultant.page.fill("#opinion-answer", "Yes: LI-RADS 5 in segment 7.")
    consultant.page.fill("#opinion-recommendations", "Discuss at the MDT\nStaging chest CT")
    consultant.page.select_option("#opinion-urgency", "urgent")
    consultant.page.click("#opinion-sign")
    expect(consultant.page.locator("#room-opinion .opinion")).to_contain_text("LI-RADS 5")
    consultant.snap("opinion")
    clinician.page.click("#room-call")  # hang up before leaving the room
    clinician.goto(f"/patients/{patient.id}")
    opinions = clinician.page.locator("#patient-opinions")
    expect(opinions).to_contain_text("Yes: LI-RADS 5 in segment 7.")
    expect(opinions).to_contain_text("Staging chest CT")
    expect(opinions).to_contain_text("Kim Remote")
    clinician.snap("patient-opinion")

    # The clinician closes it: the consultant's room ends at once and the record is gone.
    clinician.page.locator("#card-consultations .consult-row", has_text="Segment 7 lesion").locator("[data-action=close]").click()
    expect(consultant.page.locator(".consult-room")).to_have_attribute("data-room", "ended")
    consultant.goto(f"/patients/{patient.id}")
    expect(consultant.page.locator("[data-state=not-found]")).to_be_visible()


PHONE = (390, 844)


def _overflow_x(page: Any) -> int:
    """How far the page is wider than the screen (0: no horizontal scrolling)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def _requested(world: World, consultant: Any) -> int:
    import datetime as dt

    from django.utils import timezone

    from consultations.services import consultation_request

    consultation = consultation_request(
        requested_by=world.clinician, patient_id=world.patient.pk, question="Segment 7 lesion on the phone: LI-RADS 5?",
        urgency="urgent", consultant_id=consultant.pk, expires_at=timezone.now() + dt.timedelta(hours=2))
    return consultation.pk


def _analysis_with_finding(world: World) -> tuple[int, int]:
    from inference.models import AnalysisRequest, ImagingFinding

    analysis = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician,
                                              idempotency_key="room-phone", status="running", progress=20,
                                              current_step="model")
    finding = ImagingFinding.objects.create(
        analysis=analysis, patient=world.patient, kind="lesion", step_key="imaging:liver:", source_ref="lesion:1",
        model_key="liver_ct_seg", model_version="2.1.0", label="liver_lesion",
        proposed={"longest_axial_diameter_mm": 21.0}, values={"longest_axial_diameter_mm": 21.0})
    return analysis.pk, finding.pk


def _signed_report(world: World) -> None:
    from django.utils import timezone

    from inference.models import Report, ReportStatus
    from inference.reports.content import content_sha256

    content = {"schema": "cdss.report/1", "patient_id": world.patient.pk, "scores": {}, "recommendations": [], "gaps": [],
               "models": [], "imaging_findings": [], "intended_use": "Supports, does not replace, clinical judgement."}
    Report.objects.create(patient=world.patient, version=1, status=ReportStatus.FINAL, content=content,
                          content_sha256=content_sha256(content), created_by=world.clinician, signed_by=world.clinician,
                          signed_at=timezone.now())


def _newest_report(world: World) -> int:
    from inference.models import Report

    newest = Report.objects.filter(patient=world.patient).order_by("-version").values_list("pk", flat=True).first()
    assert newest is not None
    return int(newest)


def _screenshot_series(study_uid: str) -> int:
    from pydicom.uid import generate_uid

    from imaging.models import ImagingSeries, ImagingStudy

    study = ImagingStudy.objects.get(study_instance_uid=study_uid)
    return ImagingSeries.objects.create(study=study, series_instance_uid=generate_uid(), modality="SC", series_number=99).pk


def _progress(analysis_id: int, patient_id: int, value: int) -> None:
    from cdss.core.events import event_publish, patient_group

    event_publish(groups=[patient_group(patient_id)], event_type="analysis.progress",
                  payload={"request_id": analysis_id, "patient_id": patient_id, "status": "running", "step": "scoring",
                           "progress": value, "error_code": None, "report_id": None})


def test_phone_inbox_room_findings_and_opinion(open_session: Any, consult_world: tuple[World, Any, PhantomStudy]) -> None:
    """At 390x844: the inbox, the room (video tiles stacked, chat usable, AI findings panel with
    live progress, read-only for the consultant) and the opinion form, with no horizontal scroll."""
    world, consultant_user, _phantom = consult_world
    analysis_id, finding_id = off_loop(_analysis_with_finding, world)
    consultation_id = off_loop(_requested, world, consultant_user)
    screenshot_id = off_loop(_screenshot_series, _phantom.study_uid)

    consultant = open_session(consultant_user, viewport=PHONE, label="consultant-phone")
    consultant.goto("/consultations")
    row = consultant.page.locator("#consult-inbox .consult-row", has_text="on the phone")
    expect(row).to_have_count(1)
    assert _overflow_x(consultant.page) <= 0
    accept = row.locator("[data-action=accept]")
    box = accept.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE[0]
    consultant.snap("inbox-phone")
    accept.click()
    consultant.page.wait_for_url(re.compile(rf"/consultations/{consultation_id}$"))

    clinician = open_session(world.clinician, label="clinician-desk")
    clinician.goto(f"/consultations/{consultation_id}")
    for side in (clinician, consultant):
        expect(side.page.locator("#room-presence li")).to_have_count(2)
    page = consultant.page
    expect(page.locator(".consult-room")).to_have_attribute("data-room", "live")
    assert _overflow_x(page) <= 0
    # The video tiles stack: the local picture sits below the remote one, each within the screen.
    remote, local = (page.locator(sel).bounding_box() for sel in ("#room-remote-video", "#room-local-video"))
    assert remote is not None and local is not None
    assert local["y"] >= remote["y"] + remote["height"] - 1, (remote, local)
    assert remote["x"] + remote["width"] <= PHONE[0] and local["x"] + local["width"] <= PHONE[0]

    # AI findings: model and version, status, read-only for the consultant; live progress.
    item = page.locator(f"#room-findings [data-finding='{finding_id}']")
    expect(item).to_contain_text("v2.1.0")
    expect(item).to_contain_text("Proposed")
    expect(item.locator("[data-decide]")).to_have_count(0)
    expect(page.locator("#room-findings-readonly")).to_be_visible()
    expect(page.locator("#room-findings-notice")).to_contain_text("supports, not replaces, clinical judgement")
    off_loop(_progress, analysis_id, world.patient.pk, 55)
    expect(page.locator(f"#room-findings [data-analysis='{analysis_id}']")).to_have_attribute("data-progress", "55")
    # The clinician decides in the room; the consultant's panel follows.
    clinician.page.locator(f"#room-findings [data-finding='{finding_id}'] [data-decide=accepted]").click()
    expect(item).to_have_attribute("data-status", "accepted")
    expect(item).to_contain_text("Accepted")
    consultant.snap("room-phone-findings")

    # A screenshot series (burned-in text likely): the presenter shows it, the de-identified
    # consultant's viewer says it is withheld instead of showing its pixels.
    clinician.page.select_option("#room-series", str(screenshot_id))
    viewer = page.locator("#room-viewer")
    expect(viewer).to_have_attribute("data-series", str(screenshot_id))
    expect(viewer).to_have_attribute("data-withheld", "true")
    expect(page.locator("#room-withheld")).to_be_visible()
    expect(page.locator("#room-image")).to_be_hidden()
    expect(clinician.page.locator("#room-viewer")).to_have_attribute("data-withheld", "false")
    consultant.snap("room-phone-withheld")

    # The chat works one-handed: the field and button fit, and a message goes through.
    page.locator("#room-message-input").scroll_into_view_if_needed()
    send = page.locator("#room-message-send").bounding_box()
    field_box = page.locator("#room-message-input").bounding_box()
    assert send is not None and field_box is not None
    assert field_box["x"] + field_box["width"] <= PHONE[0] and send["x"] + send["width"] <= PHONE[0]
    page.fill("#room-message-input", "Reading it on my phone.")
    page.click("#room-message-send")
    expect(clinician.page.locator("#room-messages")).to_contain_text("Reading it on my phone.")
    expect(page.locator("#room-messages > li")).to_have_count(1)
    consultant.snap("room-phone-chat")

    # The opinion form fits and signs.
    for selector in ("#opinion-answer", "#opinion-recommendations", "#opinion-urgency", "#opinion-sign"):
        page.locator(selector).scroll_into_view_if_needed()
        control = page.locator(selector).bounding_box()
        assert control is not None and control["x"] >= 0 and control["x"] + control["width"] <= PHONE[0], selector
    off_loop(_signed_report, world)
    page.fill("#opinion-answer", "LI-RADS 5, signed from a phone.")
    page.select_option("#opinion-urgency", "urgent")
    page.click("#opinion-sign")
    expect(page.locator("#room-opinion .opinion")).to_contain_text("signed from a phone")
    assert _overflow_x(page) <= 0
    consultant.snap("room-phone-opinion")

    # The opinion joined the next report version: its page has a Second opinion section.
    newest = off_loop(_newest_report, world)
    clinician.goto(f"/reports/{newest}")
    second = clinician.page.locator("#report-second-opinion")
    expect(second).to_contain_text("signed from a phone")
    expect(second).to_contain_text("Kim Remote")
    clinician.snap("report-second-opinion")

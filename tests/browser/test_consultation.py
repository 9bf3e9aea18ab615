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

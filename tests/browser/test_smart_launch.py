"""SMART EHR launch in a real browser: from the EHR simulator into the portal on the launched
patient, with the EHR banner, and refused another patient in that session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from interop.sim.server import EhrSimulator
from tests.browser.axe import FAILING, TAGS, axe_run
from tests.browser.conftest import SCREENSHOTS, LiveServer
from tests.browser.data import off_loop, panel_record
from tests.conftest import world_build
from tests.factories import PatientFactory
from tests.interop.conftest import register, sim_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ehr() -> Iterator[EhrSimulator]:
    simulator = sim_build().start()
    try:
        yield simulator
    finally:
        simulator.stop()


def test_ehr_launch_opens_the_launched_patient_and_refuses_another(live: LiveServer, browser: Any, ehr: EhrSimulator) -> None:
    def build() -> Any:
        world = world_build()
        world.patient.family_name = "Launchley"
        world.patient.save()
        panel_record(actor=world.clinician, patient=world.patient)
        register(ehr, world=world, redirect_uri=f"{live.url}/smart/callback")
        same_team = PatientFactory.create(care_team=world.patient.care_team)
        return world, same_team

    world, same_team = off_loop(build)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused: list[str] = []
    page.on("response", lambda response: refused.append(response.url) if response.status == 403 else None)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        # The clinician clicks the app in the EHR: the EHR opens it with iss and launch.
        launch = f"{ehr.base}/ehr/launch?" + urlencode({"patient": "ehr-7", "user": "Practitioner/1", "app": f"{live.url}/smart/launch"})
        page.goto(launch)
        page.wait_for_url(re.compile(rf"/patients/{world.patient.pk}$"))
        page.wait_for_selector("#patient-name")
        assert "LAUNCHLEY" in page.inner_text("#patient-name")
        banner = page.locator("#ehr-banner")
        expect(banner).to_contain_text("Linked to EHR patient Alex Example")
        expect(banner).to_contain_text(f"MRN {world.patient.mrn}")
        expect(banner).to_contain_text("Patient/ehr-7 in Simulated EHR")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / "smart-launch-01-patient.png"), full_page=True)
        assert not refused, refused  # everything the patient page asks for is the launched patient's
        axe_run(page)  # loads axe-core; the banner itself is checked (the page has its own test)
        banner_violations = page.evaluate(
            "(tags) => window.axe.run('#ehr-banner', { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })"
            ".then(r => r.violations.map(v => v.impact + ' ' + v.id))", TAGS,
        )
        assert not [v for v in banner_violations if v.split()[0] in FAILING], banner_violations
        assert any(path.startswith("GET /auth/authorize") for path in ehr.requests_seen)
        assert "GET /fhir/Patient/ehr-7" in ehr.requests_seen

        # Another patient of the same care team: refused in this session.
        response = page.goto(f"{live.url}/patients/{same_team.pk}")
        assert response is not None and response.status == 403
        expect(page.locator("h1")).to_have_text("Not available")
        page.screenshot(path=str(SCREENSHOTS / "smart-launch-02-other-refused.png"), full_page=True)
        api = page.request.get(f"{live.url}/api/v1/patients/{same_team.pk}/")
        assert api.status == 403 and api.json()["code"] == "ehr_context_restricted"
        assert page.request.get(f"{live.url}/api/v1/patients/{world.patient.pk}/").status == 200
    finally:
        context.close()
    assert not errors, errors

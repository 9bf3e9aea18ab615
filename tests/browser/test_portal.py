"""The clinician portal in a real browser: login, search, the patient page, forms, live updates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cdss.accounts.models import Role
from patients.services import observation_record
from tests.browser.data import off_loop, panel_record
from tests.conftest import world_build
from tests.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_search_and_open_patient(open_session: Any) -> None:
    def build() -> Any:
        world = off_loop(world_build)
        world.patient.family_name = "Quimby"
        world.patient.save()
        PatientFactory.create(care_team=world.clinician.care_teams.first(), family_name="Abernathy")
        return world

    world = off_loop(build)
    session = open_session(world.clinician)
    page = session.page
    page.wait_for_url(re.compile(r"/patients$"))
    page.wait_for_selector(".patient-table")
    assert page.locator(".patient-table tbody tr").count() == 2
    assert page.locator("text=" + world.other_patient.family_name.upper()).count() == 0  # another team's patient
    session.snap("list")
    page.fill("#patient-search", "quim")
    expect(page.locator(".patient-table tbody tr")).to_have_count(1)
    assert "QUIMBY" in page.inner_text(".patient-table tbody")
    session.snap("search")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/patients/{world.patient.id}$"))
    page.wait_for_selector("#patient-name")
    assert "QUIMBY" in page.inner_text("#patient-name")
    assert world.patient.mrn in page.inner_text(".demographics")
    page.wait_for_selector("#card-labs .card-body:not([aria-busy=true])")
    session.snap("patient")


def _fib4_text(page: Any) -> str:
    return page.inner_text("#card-scores li[data-score=fib4] .score-value")


def test_add_lab_result_updates_panel_trend_and_scores(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.wait_for_selector("#card-labs tr[data-analyte=ast]")
    page.wait_for_selector("#card-scores li[data-score=fib4]")
    before = _fib4_text(page)
    assert re.fullmatch(r"\d+\.\d+", before), before
    assert "80.0" in page.inner_text("#card-labs tr[data-analyte=ast]")
    session.snap("before")

    # An impossible value is refused by the API and explained next to the field.
    page.click("#add-lab")
    dialog = page.locator("dialog.dialog")
    dialog.locator("select[name=code]").select_option("1920-8")
    dialog.locator("input[name=value]").fill("99999999")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".field[data-field=value] .field-error")).to_contain_text("physically possible")
    session.snap("validation")

    dialog.locator("input[name=value]").fill("160")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-labs tr[data-analyte=ast] .value")).to_have_text("160")
    expect(page.locator("#card-labs tr[data-analyte=ast]")).to_have_class(re.compile("flag-high"))
    expect(page.locator("#card-scores li[data-score=fib4] .score-value")).not_to_have_text(before)
    after = _fib4_text(page)
    assert float(after) > float(before)

    page.select_option("select[name=trend-analyte]", "ast")
    expect(page.locator(".trend-plot")).to_have_attribute("data-points", "4")
    page.click(".trend-details summary")
    expect(page.locator(".trend-table tbody tr").first).to_contain_text("160")
    session.snap("after")


def test_trend_unit_switch_converts_on_the_server(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.wait_for_selector("#card-labs tr[data-analyte=bilirubin_total]")
    page.select_option("select[name=trend-analyte]", "bilirubin_total")
    expect(page.locator(".trend-plot")).to_have_attribute("data-unit", "umol/L")
    page.click(".trend-details summary")
    expect(page.locator(".trend-table tbody tr").first.locator(".trend-value")).to_have_text("31.0")
    page.select_option("select[name=trend-unit]", "mg/dL")
    expect(page.locator(".trend-plot")).to_have_attribute("data-unit", "mg/dL")
    expect(page.locator(".trend-table tbody tr").first.locator(".trend-value")).to_have_text("1.81")
    # 31 umol/L is above the 21 umol/L upper limit in either unit.
    expect(page.locator(".trend-table tbody tr").first).to_have_class(re.compile("flag-high"))
    session.snap("mg-dl")


def test_record_changed_event_refreshes_without_reload(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    expect(page.locator(".connection")).to_have_attribute("data-state", "live")
    page.wait_for_selector("#card-scores li[data-score=fib4]")
    before = _fib4_text(page)
    page.evaluate("() => { window.__sameDocument = true; }")
    # Another user records a result: the server publishes record.changed to this patient's group.
    off_loop(observation_record, actor=world.clinician, patient=world.patient,
             data={"code": "777-3", "value": 60, "unit": "10*9/L", "observed_at": timezone.now().isoformat()})
    expect(page.locator("#card-labs tr[data-analyte=platelets] .value")).to_have_text("60.0", timeout=15_000)
    expect(page.locator("#card-scores li[data-score=fib4] .score-value")).not_to_have_text(before)
    assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    session.snap("live")


@pytest.mark.parametrize("who", ["other_clinician", "other_patient_user"])
def test_outsiders_get_not_found(open_session: Any, who: str) -> None:
    world = off_loop(world_build)
    session = open_session(getattr(world, who), label=who)
    page = session.page
    for path in (f"/patients/{world.patient.id}", f"/patients/{world.patient.id}?tab=labs"):
        session.goto(path)
        page.wait_for_selector("[data-state=not-found]")
        assert "not shared with you" in page.inner_text("main")
        assert world.patient.family_name.upper() not in page.inner_text("body")
    session.snap("not-found")


def test_patient_sees_own_dashboard_read_only(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.patient_user)
    page = session.page
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.wait_for_selector("#pt-labs li[data-analyte=alt]")
    assert page.inner_text("h1") == "My dashboard"
    assert "usual range" in page.inner_text("#pt-labs li[data-analyte=alt]").lower()
    assert page.locator("#add-lab, #add-genetics, #add-lifestyle, #add-findings, #analyse-open").count() == 0
    session.snap("dashboard")
    session.goto(f"/patients/{world.other_patient.id}")
    page.wait_for_selector("[data-state=not-found]")


def test_tablet_width_and_role_of_consultant(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    assert world.consultant.role == Role.CONSULTANT
    session = open_session(world.consultant, viewport=(820, 1180))
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.wait_for_selector("#card-labs tr[data-analyte=alt]")
    assert page.locator("#add-lab").count() == 0  # consultants read, never write
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 820, f"horizontal scroll at tablet width ({width}px)"
    session.snap("tablet")


def test_findings_genetics_and_lifestyle_forms_feed_the_scores(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.wait_for_selector("#card-scores li[data-score=fib4]")
    assert page.locator("#card-scores > .card-body > .score-list li[data-score=child_pugh]").count() == 0

    # Child-Pugh needs ascites and encephalopathy, which only a clinician can record.
    page.click("#add-findings")
    dialog = page.locator("dialog.dialog")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".field[data-field=ascites] .field-error")).to_contain_text("at least one")
    dialog.locator("select[name=ascites]").select_option("slight")
    dialog.locator("select[name=encephalopathy]").select_option("none")
    dialog.locator("select[name=known_cirrhosis]").select_option("true")
    session.snap("findings-form")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-findings")).to_contain_text("slight")
    expect(page.locator(".flags")).to_contain_text("Cirrhosis")
    child_pugh = page.locator("#card-scores > .card-body > .score-list li[data-score=child_pugh]")
    expect(child_pugh).to_be_visible()
    expect(child_pugh.locator(".score-category")).to_contain_text("class")

    page.click("#add-genetics")
    dialog = page.locator("dialog.dialog")
    expect(dialog.locator("input[name=rsid]")).to_have_value("rs738409")
    dialog.locator("input[name=genotype]").fill("G/G")
    dialog.locator("select[name=zygosity]").select_option("homozygous")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-genetics")).to_contain_text("PNPLA3")
    expect(page.locator("#modifiers li[data-modifier='PNPLA3 rs738409 GG']")).to_be_visible()

    page.click("#add-lifestyle")
    dialog = page.locator("dialog.dialog")
    dialog.locator("input[name=alcohol_value]").fill("42")
    dialog.locator("select[name=alcohol_unit]").select_option("units/week")
    dialog.locator("select[name=smoking_status]").select_option("current")
    dialog.locator("input[name=height_cm]").fill("178")
    dialog.locator("input[name=weight_kg]").fill("101")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-lifestyle")).to_contain_text("48.0 g/day")  # 42 UK units a week = 48 g a day
    expect(page.locator(".flags")).to_contain_text("Alcohol ≥ 30 g/day")
    expect(page.locator(".flags")).to_contain_text("BMI ≥ 30")
    expect(page.locator("#modifiers li[data-modifier='current smoking']")).to_be_visible()
    session.snap("records")


def test_reconnect_after_going_offline_refetches_what_was_missed(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(panel_record, actor=world.clinician, patient=world.patient)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    connection = page.locator(".connection")
    expect(connection).to_have_attribute("data-state", "live")
    page.wait_for_selector("#card-labs tr[data-analyte=sodium]")
    session.allow_errors(r"WebSocket connection to .* failed")
    page.context.set_offline(True)
    expect(connection).to_have_attribute("data-state", "offline")
    # Recorded while this browser was offline: its record.changed event is lost for it.
    off_loop(observation_record, actor=world.clinician, patient=world.patient,
             data={"code": "2951-2", "value": 128, "unit": "mmol/L", "observed_at": timezone.now().isoformat()})
    page.wait_for_timeout(500)
    expect(page.locator("#card-labs tr[data-analyte=sodium] .value")).to_have_text("135")
    page.context.set_offline(False)
    expect(connection).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#card-labs tr[data-analyte=sodium] .value")).to_have_text("128", timeout=15_000)
    session.snap("resynced")

"""Laboratory results in the portal: one unit per row, censored results, "did you mean" hints,
and the tumour burden BCLC 2022 needs, entered by a clinician."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import ClinicalFinding, LabObservation
from patients.services import observation_record
from tests.browser.data import off_loop
from tests.conftest import world_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _bilirubin_in_mg_dl(world: Any) -> None:
    observation_record(
        actor=world.clinician, patient=world.patient,
        data={"code": "1975-2", "value": 2.6, "unit": "mg/dL", "observed_at": timezone.now().isoformat()},
    )


def test_value_and_range_share_the_chosen_unit(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(_bilirubin_in_mg_dl, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    row = page.locator("#card-labs tr[data-analyte=bilirubin_total]")
    # Entered as 2.6 mg/dL; shown in the canonical unit with the range in the same unit: high.
    expect(row.locator(".value")).to_have_text("44.5")
    expect(row.locator(".range")).to_have_text("3.00\u201321.0 µmol/L")
    expect(row).to_have_class(re.compile("flag-high"))
    row.locator("select.unit-select").select_option("mg/dL")
    expect(row.locator(".value")).to_have_text("2.60")
    expect(row.locator(".range")).to_have_text("0.175\u20131.23 mg/dL")
    expect(row).to_have_class(re.compile("flag-high"))
    session.snap("bilirubin-mg-dl")
    # The choice is the user's: it survives a reload.
    page.reload()
    expect(page.locator("#card-labs tr[data-analyte=bilirubin_total]")).to_have_attribute("data-unit", "mg/dL")


def test_censored_result_and_did_you_mean_hint(open_session: Any) -> None:
    world = off_loop(world_build)
    off_loop(_bilirubin_in_mg_dl, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.wait_for_selector("#card-labs tr[data-analyte=bilirubin_total]")

    page.click("#add-lab")
    dialog = page.locator("dialog.dialog")
    dialog.locator("select[name=code]").select_option("1834-1")
    dialog.locator("select[name=comparator]").select_option("<")
    dialog.locator("input[name=value]").fill("5")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-labs tr[data-analyte=afp] .value")).to_have_text("<5.00")
    assert off_loop(lambda: LabObservation.objects.get(code="1834-1").comparator) == "<"

    # Albumin 3.5 "g/L" is a g/dL value: the server says so and the form offers the fix.
    page.click("#add-lab")
    dialog = page.locator("dialog.dialog")
    dialog.locator("select[name=code]").select_option("1751-7")
    dialog.locator("select[name=unit]").select_option("g/L")
    dialog.locator("input[name=value]").fill("3.5")
    dialog.locator("button[type=submit]").click()
    hint = dialog.locator(".unit-hint")
    expect(hint).to_contain_text("did you mean g/dL?")
    session.snap("unit-hint")
    assert off_loop(lambda: LabObservation.objects.filter(code="1751-7").count()) == 0
    hint.locator("button[data-unit='g/dL']").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-labs tr[data-analyte=albumin] .value")).to_have_text("35.0")
    stored = off_loop(lambda: LabObservation.objects.get(code="1751-7"))
    assert (stored.value, stored.unit, stored.value_canonical) == (3.5, "g/dL", 35.0)


def test_clinician_enters_the_tumour_burden(open_session: Any) -> None:
    world = off_loop(world_build)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    page.click("#add-findings")
    dialog = page.locator("dialog.dialog")
    dialog.locator("input[name=tumour_count]").fill("2")
    dialog.locator("input[name=tumour_largest_diameter_mm]").fill("25")
    dialog.locator("select[name=macrovascular_invasion]").select_option("false")
    dialog.locator("select[name=extrahepatic_spread]").select_option("false")
    dialog.locator("select[name=ecog_ps]").select_option("0")
    session.snap("staging-form")
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.dialog")).to_have_count(0)
    expect(page.locator("#card-findings")).to_contain_text("Liver tumours (number)")
    stored = off_loop(lambda: ClinicalFinding.objects.get(patient=world.patient))
    assert (stored.tumour_count, stored.tumour_largest_diameter_mm, stored.macrovascular_invasion) == (2, 25.0, False)


def test_a_score_from_a_censored_result_says_so(open_session: Any) -> None:
    def record(world: Any) -> None:
        now = timezone.now().isoformat()
        for code, value, unit in (("1920-8", ">1000", "U/L"), ("1742-6", 400, "U/L"), ("777-3", 150, "10*9/L")):
            observation_record(actor=world.clinician, patient=world.patient,
                               data={"code": code, "value": value, "unit": unit, "observed_at": now})

    world = off_loop(world_build)
    off_loop(record, world)
    session = open_session(world.clinician)
    page = session.page
    session.goto(f"/patients/{world.patient.id}")
    fib4 = page.locator("#card-scores li[data-score=fib4]")
    expect(fib4.locator(".censored")).to_contain_text("bound")
    expect(page.locator("#card-labs tr[data-analyte=ast] .value")).to_have_text(">1000")
    expect(page.locator("#card-labs tr[data-analyte=ast]")).to_have_class(re.compile("flag-high"))
    session.snap("censored-score")

"""Scores computed from the stored record say which dated values they used."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord
from tests.conftest import World, client_for


def lab(world: World, code: str, value: float, unit: str, days_ago: int) -> LabObservation:
    return LabObservation.objects.create(
        patient=world.patient, code=code, value=value, unit=unit, value_canonical=value, unit_canonical=unit,
        observed_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def test_latest_value_within_window_is_used(world: World) -> None:
    lab(world, "1975-2", 50.0, "umol/L", days_ago=200)  # outside the 90-day window: ignored
    lab(world, "1975-2", 34.2, "umol/L", days_ago=10)  # 2.0 mg/dL
    lab(world, "1975-2", 17.1, "umol/L", days_ago=3)  # newest: 1.0 mg/dL
    lab(world, "6301-6", 1.5, "{INR}", days_ago=3)
    lab(world, "2160-0", 88.4, "umol/L", days_ago=3)  # 1.0 mg/dL
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    meld = body["response"]["scores"]["meld"]
    assert meld["computable"] is True
    # MELD(i) = 0.957 ln(1.0) + 0.378 ln(1.0) + 1.120 ln(1.5) + 0.643 = 1.0971 -> x10 = 10.97 -> 11
    assert meld["value"] == 11
    used = {u["code"]: u for u in body["inputs_used"] if u["kind"] == "observation"}
    assert used["1975-2"]["value"] == 17.1
    assert used["1975-2"]["date"][:10] == (timezone.now() - dt.timedelta(days=3)).date().isoformat()
    assert body["window_days"] == 90


def test_missing_inputs_are_named_not_defaulted(world: World) -> None:
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    child_pugh = body["response"]["scores"]["child_pugh"]
    assert child_pugh["computable"] is False
    assert child_pugh["missing"]


def test_findings_and_genetics_reach_scores_and_modifiers(world: World) -> None:
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), ascites="slight",
                                   encephalopathy="none", known_cirrhosis=True)
    GeneticFinding.objects.create(patient=world.patient, gene="PNPLA3", rsid="rs738409", genotype="G/G",
                                  reported_on=timezone.now().date())
    body: Any = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    assert body["request"]["findings"]["ascites"] == "slight"
    assert body["context"] == {"known_cirrhosis": True}
    assert body["request"]["modifiers"]["pnpla3_rs738409"] == "GG"
    assert any(m["present"] for m in body["response"]["modifiers"] if "PNPLA3" in m["factor"])


FULL_PANEL = [("1751-7", 30.0, "g/L"), ("6768-6", 180.0, "U/L"), ("1742-6", 95.0, "U/L"), ("1920-8", 120.0, "U/L"),
              ("1975-2", 40.0, "umol/L"), ("2160-0", 80.0, "umol/L"), ("2324-2", 210.0, "U/L")]


def _scores(world: World) -> Any:
    response = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/")
    assert response.status_code == 200, response.content
    return response.json()


def test_learned_models_with_contributions_when_inputs_suffice(world: World) -> None:
    for code, value, unit in FULL_PANEL:
        lab(world, code, value, unit, days_ago=2)
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), hcv_status="chronic")
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    learned = {m["key"]: m for m in body["learned"]}
    hcv = learned["hcv_stage"]
    assert hcv["applicable"] is True
    assert abs(sum(hcv["probabilities"].values()) - 1) < 1e-3
    assert set(hcv["imputed"]) == {"CHE", "CHOL", "PROT"}  # not in our catalogue: imputed and said so
    assert hcv["contributions"] and len(hcv["weights_sha256"]) == 64
    assert learned["ilpd"]["applicable"] is True


def test_learned_models_not_applicable_without_labs(world: World) -> None:
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), hcv_status="chronic")
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    assert all(m["applicable"] is False and m["missing"] for m in body["learned"])
    assert {m["abstention"]["code"] for m in body["learned"]} == {"imputed_share_exceeded"}


def test_hcv_stage_abstains_for_an_hcv_negative_alcohol_patient(world: World) -> None:
    for code, value, unit in FULL_PANEL:
        lab(world, code, value, unit, days_ago=2)
    ClinicalFinding.objects.create(
        patient=world.patient, assessed_on=timezone.now().date(), hcv_status="negative", hbv_status="negative",
    )
    LifestyleRecord.objects.create(
        patient=world.patient, recorded_on=timezone.now().date(), alcohol_value=80, alcohol_unit="g/day",
        alcohol_g_per_day=80,
    )
    learned = {m["key"]: m for m in _scores(world)["learned"]}
    hcv = learned["hcv_stage"]
    assert hcv["applicable"] is False and "probabilities" not in hcv
    assert hcv["abstention"]["code"] == "hcv_not_positive"
    assert hcv["abstention"]["field"] == "hcv_status"
    assert "chronic hepatitis C" in hcv["abstention"]["reason"] and "is negative" in hcv["abstention"]["reason"]
    assert "Hannover" in hcv["population"]
    # The same labs in the ILPD cohort's age range: that model still applies, and names its cohort.
    assert learned["ilpd"]["applicable"] is True and "Indian Liver Patient" in learned["ilpd"]["population"]
    # Once cirrhosis is established, telling "liver patient" from "not" adds nothing: ILPD abstains.
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), known_cirrhosis=True)
    ilpd = {m["key"]: m for m in _scores(world)["learned"]}["ilpd"]
    assert ilpd["applicable"] is False and ilpd["abstention"]["code"] == "liver_disease_established"


def test_hcv_stage_abstains_when_the_hcv_status_is_not_recorded(world: World) -> None:
    for code, value, unit in FULL_PANEL:
        lab(world, code, value, unit, days_ago=2)
    hcv = {m["key"]: m for m in _scores(world)["learned"]}["hcv_stage"]
    assert hcv["applicable"] is False and hcv["abstention"]["code"] == "hcv_status_unknown"
    assert "does not state" in hcv["abstention"]["reason"]


def test_cohort_models_abstain_outside_the_cohort_age_range(world: World) -> None:
    world.patient.birth_date = timezone.now().date().replace(year=timezone.now().year - 95)
    world.patient.save()
    for code, value, unit in FULL_PANEL:
        lab(world, code, value, unit, days_ago=2)
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), hcv_status="chronic")
    learned = {m["key"]: m for m in _scores(world)["learned"]}
    for key in ("hcv_stage", "ilpd"):
        assert learned[key]["applicable"] is False
        assert learned[key]["abstention"]["code"] == "age_outside_population"
        assert "95" in learned[key]["abstention"]["reason"]


def test_censored_afp_is_used_at_its_limit_and_flagged(world: World) -> None:
    LabObservation.objects.create(
        patient=world.patient, code="1834-1", comparator="<", value=5, unit="ng/mL", value_canonical=5,
        unit_canonical="ng/mL", observed_at=timezone.now() - dt.timedelta(days=1),
    )
    lab(world, "42332-7", 12.0, "%", days_ago=1)
    lab(world, "34444-0", 3.0, "ng/mL", days_ago=1)
    body = _scores(world)
    assert body["request"]["observations"][0] == {**body["request"]["observations"][0], "comparator": "<"}
    galad = body["response"]["scores"]["galad"]
    assert galad["computable"] is True
    assert galad["censored"] is True
    assert galad["censored_inputs"] == [{"name": "afp", "code": "1834-1", "comparator": "<", "value": 5.0, "unit": "ng/mL"}]
    assert "bound" in galad["details"]["censored_note"]
    # AFP-L3 % and DCP entered as laboratory results feed GALAD (not only findings).
    used = {u["name"]: u["value"] for u in galad["inputs_used"]}
    assert used["afp_l3"] == 12.0 and used["dcp"] == 3.0
    # A score without censored inputs carries no flag.
    assert "censored" not in body["response"]["scores"]["meld"]


def test_clinician_tumour_burden_makes_bclc_computable_without_imaging(world: World) -> None:
    ClinicalFinding.objects.create(
        patient=world.patient, assessed_on=timezone.now().date(), ecog_ps=0, macrovascular_invasion=False,
        extrahepatic_spread=False, ascites="none", encephalopathy="none", tumour_count=2,
        tumour_largest_diameter_mm=25,
    )
    for code, value, unit in [("1975-2", 15.0, "umol/L"), ("1751-7", 40.0, "g/L"), ("6301-6", 1.0, "{INR}")]:
        lab(world, code, value, unit, days_ago=1)
    body = _scores(world)
    assert body["request"]["findings"]["liver_tumours"] == [{"diameter_cm": 2.5, "source": "clinician"}] * 2
    bclc = body["response"]["scores"]["bclc"]
    assert bclc["computable"] is True and bclc["value"] == "A"
    assert bclc["details"]["tumour_source"] == "clinician" and bclc["details"]["tumour_count"] == 2
    assert {u.get("name") for u in body["inputs_used"]} >= {"tumour_count", "tumour_largest_diameter_mm"}


def test_stored_staging_findings_make_bclc_computable(world: World) -> None:
    ClinicalFinding.objects.create(
        patient=world.patient, assessed_on=timezone.now().date(), ecog_ps=0, macrovascular_invasion=False,
        extrahepatic_spread=False, ascites="none", encephalopathy="none",
    )
    for code, value, unit in [("1975-2", 15.0, "umol/L"), ("1751-7", 40.0, "g/L"), ("6301-6", 1.0, "{INR}")]:
        lab(world, code, value, unit, days_ago=1)
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    assert body["request"]["findings"]["macrovascular_invasion"] is False
    bclc = body["response"]["scores"]["bclc"]
    # No tumour entered: BCLC still needs the tumour burden, and says so rather than guessing.
    assert "liver_tumours" in " ".join(bclc["missing"]) or bclc["computable"]


def test_cohort_model_says_when_an_input_was_censored(world: World) -> None:
    for code, value, unit in FULL_PANEL:
        if code != "1742-6":
            lab(world, code, value, unit, days_ago=2)
    LabObservation.objects.create(
        patient=world.patient, code="1742-6", comparator=">", value=2000, unit="U/L", value_canonical=2000,
        unit_canonical="U/L", observed_at=timezone.now() - dt.timedelta(days=1),
    )
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.now().date(), hcv_status="chronic")
    hcv = {m["key"]: m for m in _scores(world)["learned"]}["hcv_stage"]
    assert hcv["applicable"] is True and hcv["censored_inputs"] == ["ALT >"]
    assert "censored input(s)" in hcv["note"]

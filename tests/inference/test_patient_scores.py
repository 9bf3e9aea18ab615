"""Scores computed from the stored record say which dated values they used."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from patients.models import ClinicalFinding, GeneticFinding, LabObservation
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


def test_learned_models_with_contributions_when_inputs_suffice(world: World) -> None:
    for code, value, unit in [("1751-7", 30.0, "g/L"), ("6768-6", 180.0, "U/L"), ("1742-6", 95.0, "U/L"), ("1920-8", 120.0, "U/L"),
                              ("1975-2", 40.0, "umol/L"), ("2160-0", 80.0, "umol/L"), ("2324-2", 210.0, "U/L")]:
        lab(world, code, value, unit, days_ago=2)
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    learned = {m["key"]: m for m in body["learned"]}
    hcv = learned["hcv_stage"]
    assert hcv["applicable"] is True
    assert abs(sum(hcv["probabilities"].values()) - 1) < 1e-3
    assert set(hcv["imputed"]) == {"CHE", "CHOL", "PROT"}  # not in our catalogue: imputed and said so
    assert hcv["contributions"] and len(hcv["weights_sha256"]) == 64
    assert learned["ilpd"]["applicable"] is True


def test_learned_models_not_applicable_without_labs(world: World) -> None:
    body = client_for(world.clinician).get(f"/api/v1/patients/{world.patient.pk}/scores/").json()
    assert all(m["applicable"] is False and m["missing"] for m in body["learned"])


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

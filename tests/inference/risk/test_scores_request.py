"""``scores_evaluate``: the request/response contract, units, duplicates and error codes."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from cdss.core.errors import ValidationFailed
from inference.risk.scores import SCORES, scores_evaluate

BODY: dict[str, Any] = {
    "patient": {"age_years": 61, "sex": "male"},
    "observations": [
        {"code": "1975-2", "value": 1.9, "unit": "mg/dL", "date": "2024-05-01"},
        {"code": "6301-6", "value": 1.5, "unit": ""},
        {"code": "2160-0", "value": 1.2, "unit": "mg/dL"},
        {"code": "2951-2", "value": 130, "unit": "mmol/L"},
        {"code": "1751-7", "value": 30, "unit": "g/L"},
        {"code": "1920-8", "value": 80, "unit": "U/L"},
        {"code": "1742-6", "value": 60, "unit": "U/L"},
        {"code": "777-3", "value": 90, "unit": "10*9/L"},
        {"code": "1834-1", "value": 25, "unit": "ng/mL"},
    ],
    "findings": {"ascites": "slight", "encephalopathy": "none", "afp_l3_percent": 12, "dcp_ng_ml": 5},
}


def body(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BODY)
    out.update(changes)
    return out


def test_response_shape_for_every_score() -> None:
    response = scores_evaluate(body())
    assert list(response) == ["scores"]
    assert list(response["scores"]) == list(SCORES)
    for result in response["scores"].values():
        assert set(result) == {
            "computable",
            "value",
            "category",
            "details",
            "inputs_used",
            "missing",
            "citation",
            "guideline_version",
        }
        assert result["citation"]
    json.dumps(response, allow_nan=False)  # strict JSON, no NaN or numpy types


def test_worked_values_through_the_contract() -> None:
    scores = scores_evaluate(body())["scores"]
    assert scores["meld"]["value"] == 15
    assert scores["meld_na"]["value"] == 21
    assert scores["child_pugh"]["value"] == 7 and scores["child_pugh"]["category"] == "B"
    assert scores["bclc"]["computable"] is False and scores["bclc"]["missing"][0] == "liver_tumours"


def test_inputs_used_carry_code_unit_and_date_in_the_scores_unit() -> None:
    used = scores_evaluate(body(scores=["meld", "albi"]))["scores"]
    bili_meld = used["meld"]["inputs_used"][0]
    assert bili_meld == {
        "name": "bilirubin_total",
        "code": "1975-2",
        "value": 1.9,
        "unit": "mg/dL",
        "date": "2024-05-01",
    }
    bili_albi = used["albi"]["inputs_used"][0]
    assert bili_albi["unit"] == "umol/L" and bili_albi["value"] == pytest.approx(32.49)


def test_any_known_unit_gives_the_same_result() -> None:
    si = body()
    si["observations"][0] = {"code": "1975-2", "value": 1.9 * 17.1, "unit": "µmol/L"}
    si["observations"][2] = {"code": "2160-0", "value": 1.2 * 88.4, "unit": "umol/L"}
    si["observations"][4] = {"code": "1751-7", "value": 3.0, "unit": "g/dL"}
    a, b = scores_evaluate(si)["scores"], scores_evaluate(body())["scores"]
    for score_id in SCORES:
        assert (a[score_id]["value"], a[score_id]["category"]) == (
            b[score_id]["value"],
            b[score_id]["category"],
        )


def test_subset_in_request_order_and_empty_list() -> None:
    assert list(scores_evaluate(body(scores=["fib4", "meld", "fib4"]))["scores"]) == ["fib4", "meld"]
    assert scores_evaluate(body(scores=[])) == {"scores": {}}


def test_empty_body_is_all_not_computable() -> None:
    scores = scores_evaluate({})["scores"]
    assert not any(r["computable"] for r in scores.values() if r["category"] != "not_applicable")


def test_null_findings_mean_not_stated() -> None:
    result = scores_evaluate(
        body(findings={"ascites": None, "encephalopathy": "none"}, scores=["child_pugh"])
    )
    assert result["scores"]["child_pugh"]["missing"] == ["ascites"]


def test_modifiers_are_listed_beside_scores_not_in_them() -> None:
    plain = scores_evaluate(body())
    with_mods = scores_evaluate(body(modifiers={"pnpla3_rs738409": "GG", "diabetes": True}))
    assert with_mods["scores"] == plain["scores"]
    present = {m["factor"] for m in with_mods["modifiers"] if m["present"]}
    assert present == {"PNPLA3 rs738409 GG", "diabetes mellitus"}
    assert "modifiers" not in plain


def observation(index: int, **changes: Any) -> dict[str, Any]:
    out = body()
    out["observations"][index] = {**out["observations"][index], **changes}
    return out


@pytest.mark.parametrize(
    ("request_body", "code", "field"),
    [
        (body(scores=["meld", "nope"]), "unknown_score", "scores[1]"),
        (observation(0, unit="mmol/L"), "unknown_unit", "observations[0].unit"),
        (observation(0, code="9999-9"), "unknown_analyte", "observations[0].code"),
        (observation(4, value=300, unit="g/L"), "implausible_value", "observations[4].value"),
        (observation(6, value=-5), "implausible_value", "observations[6].value"),
        (observation(1, value=0), "implausible_value", "observations[1].value"),
        (observation(1, value=math.nan), "not_a_number", "observations[1].value"),
        (observation(1, value=math.inf), "not_a_number", "observations[1].value"),
        (observation(1, value="high"), "not_a_number", "observations[1].value"),
        (observation(1, value=True), "not_a_number", "observations[1].value"),
        (observation(1, date="yesterday"), "invalid_date", "observations[1].date"),
        (observation(1, date="2999-01-01"), "future_date", "observations[1].date"),
        (observation(1, extra=1), "unknown_field", "observations[1].extra"),
        (observation(1, unit=5), "invalid_field", "observations[1].unit"),
        (observation(0, unit=None), "missing_field", "observations[0].unit"),
        (observation(0, value=None), "missing_field", "observations[0].value"),
        (body(observations=[{"code": "1975-2", "value": 1.0}]), "missing_field", "observations[0].unit"),
        (body(observations={"code": "6301-6"}), "invalid_field", "observations"),
        (body(observations=["x"]), "invalid_field", "observations[0]"),
        (body(patient={"age_years": "sixty"}), "not_a_number", "patient.age_years"),
        (body(patient={"age_years": 150}), "implausible_value", "patient.age_years"),
        (body(patient={"age_years": -1}), "implausible_value", "patient.age_years"),
        (body(patient={"sex": "M"}), "invalid_choice", "patient.sex"),
        (body(patient={"height": 180}), "unknown_field", "patient.height"),
        (body(patient=[]), "invalid_field", "patient"),
        (body(findings={"ascities": "slight"}), "unknown_field", "findings.ascities"),
        (body(findings={"ascites": "mild"}), "invalid_choice", "findings.ascites"),
        (body(findings={"ecog_ps": 1.0}), "invalid_field", "findings.ecog_ps"),
        (body(findings={"ecog_ps": 5}), "implausible_value", "findings.ecog_ps"),
        (
            body(findings={"dialysis_twice_past_week": "yes"}),
            "invalid_field",
            "findings.dialysis_twice_past_week",
        ),
        (body(findings={"afp_l3_percent": 120}), "implausible_value", "findings.afp_l3_percent"),
        (body(findings={"dcp_ng_ml": 0}), "implausible_value", "findings.dcp_ng_ml"),
        (body(findings={"liver_tumours": [{}]}), "missing_field", "findings.liver_tumours[0].diameter_cm"),
        (
            body(findings={"liver_tumours": [{"diameter_cm": 0}]}),
            "implausible_value",
            "findings.liver_tumours[0].diameter_cm",
        ),
        (
            body(findings={"lung_nodules": [{"long_axis_mm": 5}]}),
            "missing_field",
            "findings.lung_nodules[0].type",
        ),
        (
            body(findings={"lung_nodules": [{"type": "ggo"}]}),
            "invalid_choice",
            "findings.lung_nodules[0].type",
        ),
        (
            body(findings={"lung_nodules": [{"type": "solid", "long_axis_mm": 5, "short_axis_mm": 6}]}),
            "inconsistent_values",
            "findings.lung_nodules[0].short_axis_mm",
        ),
        (
            body(findings={"lung_nodules": [{"type": "solid", "solid_component_mm": 3}]}),
            "inconsistent_values",
            "findings.lung_nodules[0].solid_component_mm",
        ),
        (body(findings={"lung_nodules": "none"}), "invalid_field", "findings.lung_nodules"),
        (body(findings={"nodule_context": "routine"}), "invalid_choice", "findings.nodule_context"),
        (body(scores="meld"), "invalid_field", "scores"),
        (body(scores=[1]), "invalid_field", "scores[0]"),
        (body(extra=True), "unknown_field", "extra"),
        (body(modifiers={"smoking": "sometimes"}), "invalid_choice", "modifiers.smoking"),
        (body(modifiers={"bmi_kg_m2": 400}), "implausible_value", "modifiers.bmi_kg_m2"),
        (body(modifiers={"apoe": "e4"}), "unknown_field", "modifiers.apoe"),
    ],
)
def test_errors_have_stable_codes_and_field_paths(request_body: Any, code: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        scores_evaluate(request_body)
    assert caught.value.code == code
    assert caught.value.status_code == 400
    assert caught.value.detail["field"] == field
    assert set(caught.value.as_dict()) == {"code", "message", "detail"}


@pytest.mark.parametrize("request_body", [[], "x", None, 3])
def test_body_must_be_an_object(request_body: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        scores_evaluate(request_body)
    assert caught.value.code == "invalid_field"


def creatinine(value: float, date: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": "2160-0", "value": value, "unit": "mg/dL"}
    if date is not None:
        out["date"] = date
    return out


def test_duplicate_dated_observations_latest_wins() -> None:
    request = body(scores=["meld"])
    request["observations"][2:3] = [
        creatinine(3.9, "2024-05-02"),
        creatinine(1.2, "2024-05-01T23:00:00+00:00"),
    ]
    used = scores_evaluate(request)["scores"]["meld"]["inputs_used"]
    assert next(u for u in used if u["name"] == "creatinine")["date"] == "2024-05-02"
    # Time zones are honoured: 01:00+02:00 on the 2nd is 23:00 UTC on the 1st, before midnight.
    request["observations"][2:4] = [
        creatinine(3.9, "2024-05-02T01:00:00+02:00"),
        creatinine(1.2, "2024-05-02"),
    ]
    used = scores_evaluate(request)["scores"]["meld"]["inputs_used"]
    assert next(u for u in used if u["name"] == "creatinine")["value"] == 1.2


@pytest.mark.parametrize(
    "dates",
    [
        (None, None),
        ("2024-05-01", None),
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T00:00:00Z", "2024-05-01"),
    ],
)
def test_duplicates_that_cannot_be_ordered_are_rejected(dates: tuple[str | None, str | None]) -> None:
    request = body()
    request["observations"][2:3] = [creatinine(1.2, dates[0]), creatinine(1.3, dates[1])]
    with pytest.raises(ValidationFailed) as caught:
        scores_evaluate(request)
    assert caught.value.code == "duplicate_observation"
    assert caught.value.detail["indices"] == [2, 3]


def test_duplicates_in_different_units_are_still_the_same_analyte() -> None:
    request = body()
    request["observations"].append({"code": "1975-2", "value": 32.49, "unit": "umol/L"})
    with pytest.raises(ValidationFailed) as caught:
        scores_evaluate(request)
    assert caught.value.code == "duplicate_observation"


def test_a_censored_input_is_computed_at_its_limit_and_flagged() -> None:
    exact = scores_evaluate(body())["scores"]
    observations = [dict(o) for o in BODY["observations"]]
    observations[0]["comparator"] = "<"  # bilirubin "<1.9 mg/dL"
    censored = scores_evaluate(body(observations=observations))["scores"]
    meld = censored["meld"]
    assert meld["value"] == exact["meld"]["value"] and meld["censored"] is True
    assert meld["censored_inputs"] == [
        {"name": "bilirubin_total", "code": "1975-2", "comparator": "<", "value": 1.9, "unit": "mg/dL"}
    ]
    assert "bound" in meld["details"]["censored_note"]
    # Scores that never read bilirubin carry no flag; every exact response carries none.
    assert "censored" not in censored["fib4"] and not any("censored" in s for s in exact.values())


def test_a_bad_comparator_is_refused_with_its_field() -> None:
    observations = [dict(o) for o in BODY["observations"]]
    observations[0]["comparator"] = "~"
    with pytest.raises(ValidationFailed) as caught:
        scores_evaluate(body(observations=observations))
    assert caught.value.code == "invalid_choice" and caught.value.detail["field"] == "observations[0].comparator"


def test_galad_prefers_afp_l3_and_dcp_results_over_findings() -> None:
    observations = [*BODY["observations"], {"code": "42332-7", "value": 20, "unit": "%"},
                    {"code": "34444-0", "value": 50, "unit": "ng/mL"}]
    galad = scores_evaluate(body(observations=observations))["scores"]["galad"]
    used = {u["name"]: u["value"] for u in galad["inputs_used"]}
    assert used["afp_l3"] == 20 and used["dcp"] == 50
    assert galad["value"] > scores_evaluate(body())["scores"]["galad"]["value"]

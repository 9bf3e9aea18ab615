"""The patient explanation catalogue: complete, cited from the score code, chosen by value."""

from __future__ import annotations

import copy
import json

import pytest

from inference.explanations.catalogue import CATALOGUE_PATH, CatalogueError, catalogue, catalogue_validate
from inference.explanations.explain import (
    genetic_explain,
    lab_explain,
    modifier_explain,
    report_explain,
    score_explain,
)
from inference.risk.modifiers import ModifierInputs, modifiers_evaluate
from inference.risk.scores.registry import SCORES
from inference.risk.scores.types import ScoreInputs
from patients.units import analytes


def raw() -> dict:
    return json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_every_score_lab_and_modifier_is_explained_with_the_four_parts() -> None:
    data = catalogue()
    assert set(data["scores"]) == set(SCORES)
    assert set(data["labs"]) == {a.key for a in analytes()}
    for entry in [*data["scores"].values(), *data["labs"].values(), *data["genetics"].values()]:
        assert entry["measures"] and entry["next"] and entry["questions"]
    assert set(data["modifiers"]) == {m["factor"] for m in modifiers_evaluate(inputs=ModifierInputs())}


def test_score_citations_come_from_the_score_functions() -> None:
    for score_id, fn in SCORES.items():
        assert catalogue()["scores"][score_id]["citation"] == fn(ScoreInputs()).citation
    assert catalogue()["scores"]["amap"]["citation"].startswith("Fan R")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["scores"].pop("amap"), "scores explained"),
        (lambda d: d["labs"].pop("afp"), "labs explained"),
        (lambda d: d["labs"]["alt"].pop("high"), "low, normal and high"),
        (lambda d: d["scores"]["meld"]["bands"].reverse(), "last band must be open"),
        (lambda d: d["scores"]["fib4"].update(bands=[{"below": None, "label": "x", "meaning": "y"}]), "exactly one"),
        (lambda d: d["modifiers"].pop("current smoking"), "modifiers explained"),
        (lambda d: d["genetics"]["PNPLA3"]["by_risk_allele_count"].pop("2"), "0, 1 and 2"),
        (lambda d: d["scores"]["bclc"].update(questions=[]), "'questions' is missing"),
    ],
)
def test_an_incomplete_catalogue_fails_to_load(mutate, message: str) -> None:
    data = copy.deepcopy(raw())
    mutate(data)
    with pytest.raises(CatalogueError, match=message):
        catalogue_validate(data)


def test_amap_high_is_explained_not_just_a_number() -> None:
    explained = score_explain("amap", {"computable": True, "value": 71.69, "category": "high"})
    assert explained["explained"] and explained["band"] == "high"
    assert "does not mean you have cancer" in explained["meaning"]
    assert "every 6 months" in explained["next"]
    assert explained["value_text"] == "71.69"


@pytest.mark.parametrize(("value", "band"), [(6, "lower range"), (9.99, "lower range"), (10, "middle range"), (29, "higher range"), (40, "highest range")])
def test_meld_bands_follow_the_value(value: float, band: str) -> None:
    assert score_explain("meld", {"computable": True, "value": value, "category": None})["band"] == band


def test_brock_probability_reads_as_a_chance_in_100() -> None:
    explained = score_explain("brock", {"computable": True, "value": 0.073, "category": None})
    assert explained["value_text"] == "7.3 in 100" and explained["band"] == "intermediate"


def test_fleischner_uses_the_management_text() -> None:
    explained = score_explain("fleischner", {"computable": True, "value": "optional_ct_12_months", "category": "optional_ct_12_months",
                                             "details": {"management_text": "Optional CT at 12 months"}})
    assert "Optional CT at 12 months" in explained["meaning"]


def test_unknown_category_or_score_is_flagged_unexplained() -> None:
    assert not score_explain("amap", {"computable": True, "value": 1, "category": "galactic"})["explained"]
    assert not score_explain("new_score", {"computable": True, "value": 1})["explained"]
    assert score_explain("meld", {"computable": False, "missing": ["inr"]})["meaning"].startswith("There were not enough")


@pytest.mark.parametrize(
    ("genotype", "zygosity", "copies"),
    [("G/G", None, 2), ("GG", None, 2), ("C/G", None, 1), ("CC", None, 0), ("", "heterozygous", 1), ("", None, None)],
)
def test_pnpla3_genotype_is_explained_by_copies(genotype: str, zygosity: str | None, copies: int | None) -> None:
    explained = genetic_explain(gene="pnpla3", genotype=genotype, zygosity=zygosity)
    assert explained["copies"] == copies
    assert explained["explained"] is (copies is not None)
    if copies == 2:
        assert "two copies" in explained["meaning"]


def test_lab_and_modifier_texts() -> None:
    assert "above the usual range" in lab_explain("alt", "high")["meaning"]
    assert lab_explain("alt", "unknown")["explained"]
    assert not lab_explain("unknown_lab", "high")["explained"]
    assert "Stopping" in modifier_explain({"factor": "current smoking"})["meaning"]


def test_report_explain_shows_computable_scores_factors_and_topics_only() -> None:
    content = {
        "scores": {"amap": {"computable": True, "value": 71.69, "category": "high"}, "galad": {"computable": False, "missing": ["afp"]}},
        "modifiers": [{"factor": "PNPLA3 rs738409 GG", "present": True}, {"factor": "current smoking", "present": False}],
        "recommendations": [{"domain": "hcc_risk", "statement": "US + AFP q6m"}, {"domain": "hcc_risk", "statement": "x"}],
        "learned_risk": [{"model": "hcv_binary", "probability": 0.4}],
    }
    explained = report_explain(content)
    assert [s["score"] for s in explained["scores"]] == ["amap"]
    assert [f["factor"] for f in explained["factors"]] == ["PNPLA3 rs738409 GG"]
    assert [t["domain"] for t in explained["topics"]] == ["hcc_risk"]
    assert explained["computer_analysis"] and "0.4" not in json.dumps(explained)

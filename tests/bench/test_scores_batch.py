"""The vectorised batch path gives the per-patient functions' results, row for row."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bench.scores_batch import (
    batch_columns_from_inputs,
    score_inputs_from_columns,
    scores_evaluate_batch,
    treatments_from_bits,
)
from inference.risk.errors import UnknownScore
from inference.risk.scores import SCORES
from inference.risk.scores.types import ScoreInputs, ScoreResult
from tests.inference.random_inputs import random_inputs

N_PATIENTS = 3000


@pytest.fixture(scope="module")
def cohort() -> list[ScoreInputs]:
    rng = np.random.default_rng(20240601)
    return [random_inputs(rng) for _ in range(N_PATIENTS)]


@pytest.fixture(scope="module")
def loop(cohort: list[ScoreInputs]) -> dict[str, list[ScoreResult]]:
    return {score_id: [fn(p) for p in cohort] for score_id, fn in SCORES.items()}


@pytest.fixture(scope="module")
def batch(cohort: list[ScoreInputs]) -> dict:
    return scores_evaluate_batch(columns=batch_columns_from_inputs(cohort))


@pytest.mark.parametrize("score_id", list(SCORES))
def test_batch_equals_loop(score_id: str, loop: dict, batch: dict) -> None:
    b = batch[score_id]
    for row, result in enumerate(loop[score_id]):
        # computable, the reported value and the category are identical, not merely close.
        assert (result.computable, result.value, result.category) == b.row(row), (score_id, row)
        if not result.computable:
            continue
        if "unrounded" in result.details and "unrounded" in b.details:
            # Same IEEE operations in the same order: equal here; 1e-12 leaves room for a libm
            # that rounds a logarithm's last bit differently on another CPU.
            assert result.details["unrounded"] == pytest.approx(float(b.details["unrounded"][row]), rel=1e-12)


def test_batch_details_equal_loop_details(cohort: list[ScoreInputs], loop: dict, batch: dict) -> None:
    cols = batch_columns_from_inputs(cohort)
    for row, result in enumerate(loop["child_pugh"]):
        if result.computable:
            for name, points in result.details["points"].items():
                assert batch["child_pugh"].details[f"points_{name}"][row] == points
    for row, result in enumerate(loop["bclc"]):
        if result.computable:
            bits = int(batch["bclc"].details["treatments"][row])
            assert result.details["treatments"] == treatments_from_bits(bits)
    for row, result in enumerate(loop["brock"]):
        if result.computable:
            mine = np.flatnonzero(cols.nodule_patient == row)
            assert [n["probability"] for n in result.details["nodules"]] == list(
                batch["brock"].details["nodule_probability"][mine]
            )
    labels = ("1", "2", "3", "4A", "4B")
    for row, result in enumerate(loop["lung_rads"]):
        if result.computable:
            mine = np.flatnonzero(cols.nodule_patient == row)
            categories = [labels[c] for c in batch["lung_rads"].details["nodule_category"][mine]]
            assert [n["category"] for n in result.details["nodules"]] == categories
    for row, result in enumerate(loop["apri"]):
        if result.computable:
            bands = ("unlikely", "indeterminate", "likely")
            assert result.details["cirrhosis"] == bands[batch["apri"].details["cirrhosis"][row]]
            assert (
                result.details["significant_fibrosis"]
                == bands[batch["apri"].details["significant_fibrosis"][row]]
            )


@pytest.mark.parametrize(
    ("score_id", "labels"),
    [
        ("child_pugh", {"A", "B", "C"}),
        ("albi", {"1", "2", "3"}),
        ("fib4", {"low", "indeterminate", "high"}),
        ("amap", {"low", "medium", "high"}),
        ("galad", {"positive", "negative"}),
        ("bclc", {"0", "A", "B", "C", "D"}),
        ("lung_rads", {"1", "2", "3", "4A", "4B"}),
        ("fleischner", None),
    ],
)
def test_random_cohort_visits_every_category(score_id: str, labels: set[str] | None, loop: dict) -> None:
    from inference.risk.scores.lung import FLEISCHNER_TEXT

    seen = Counter(r.category for r in loop[score_id] if r.computable)
    assert set(seen) == (labels if labels is not None else set(FLEISCHNER_TEXT))


def test_random_cohort_visits_every_treatment_and_clamp(loop: dict) -> None:
    from inference.risk.scores.hcc import TREATMENTS

    treatments = {t for r in loop["bclc"] if r.computable for t in r.details["treatments"]}
    assert treatments == set(TREATMENTS)
    meld_na = [r for r in loop["meld_na"] if r.computable]
    assert {r.details["sodium_term_applied"] for r in meld_na} == {True, False}
    assert {6, 40} <= {r.value for r in meld_na}
    clamps = " ".join(c for r in loop["meld_3"] if r.computable for c in r.details["clamped"])
    for fragment in ("capped at 3", "dialysis", "sodium", "albumin", "bilirubin_total", "inr"):
        assert fragment in clamps


def test_columns_round_trip(cohort: list[ScoreInputs]) -> None:
    cols = batch_columns_from_inputs(cohort[:200])
    again = batch_columns_from_inputs([score_inputs_from_columns(cols, row) for row in range(200)])
    for name in ("age_years", "sex", "tumour_patient", "tumour_diameter_cm", "nodule_type", "nodule_status"):
        np.testing.assert_array_equal(getattr(cols, name), getattr(again, name))
    for key, values in cols.labs.items():
        np.testing.assert_array_equal(values, again.labs[key])
    for key, values in cols.findings.items():
        np.testing.assert_array_equal(values, again.findings[key])


def test_subset_and_unknown_score(cohort: list[ScoreInputs]) -> None:
    cols = batch_columns_from_inputs(cohort[:10])
    assert list(scores_evaluate_batch(columns=cols, score_ids=["bclc", "meld"])) == ["bclc", "meld"]
    with pytest.raises(UnknownScore) as caught:
        scores_evaluate_batch(columns=cols, score_ids=["nope"])
    assert caught.value.code == "unknown_score"


def test_empty_cohort() -> None:
    results = scores_evaluate_batch(columns=batch_columns_from_inputs([]))
    assert all(r.computable.shape == (0,) for r in results.values())

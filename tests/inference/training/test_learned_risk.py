"""Learned risk models: artefact integrity, predictor contract, Mayo score, C-index, round trip.

No database and no ../shared data: payloads are hand-built, cohorts synthetic.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.risk.learned.artefact import (
    MANIFEST_FILE,
    MODEL_FILE,
    SCHEMA,
    artefact_load,
    artefact_save,
)
from inference.risk.learned.batch import prediction_rows, risk_predict_file
from inference.risk.learned.datasets import task_get
from inference.risk.learned.errors import ArtefactIntegrityError, ArtefactMissing, InputInvalid
from inference.risk.learned.predictor import risk_predict, top_contributions
from inference.training.risk import classifier_train as training_classifier
from inference.training.risk.mayo import mayo_from_pbc_values, mayo_risk_score
from inference.training.risk.survival import harrell_c_index
from inference.training.risk.train import risk_model_train_and_save
from tests.inference.learned_synthetic import hcv_rows, pbc_rows, write_hcv_csv, write_pbc_csv


def _feature(name: str, column: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "column": column,
        "unit": "U/L",
        "transform": "log",
        "multiplier": 1.0,
        "levels": None,
        "description": "",
        "impute_value": 20.0,
        "clip_low": math.log(2.0),
        "clip_high": math.log(500.0),
        "mean": math.log(20.0),
        "scale": 0.5,
    }
    base.update(overrides)
    return base


def _payload(family: str = "logistic_binary") -> dict[str, Any]:
    features = [
        _feature("log_AST", "AST"),
        _feature(
            "Sex_male",
            "Sex",
            unit="",
            transform="identity",
            levels={"m": 1.0, "f": 0.0},
            impute_value=1.0,
            clip_low=0.0,
            clip_high=1.0,
            mean=0.6,
            scale=0.49,
        ),
    ]
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "key": "toy_model",
        "version": "1.0.0",
        "family": family,
        "features": features,
        "input": {"format": "hcv"},
    }
    if family == "logistic_binary":
        payload["classes"] = ["neg", "pos"]
        payload["model"] = {
            "intercept": -1.5,
            "coef": [1.2, -0.4],
            "calibration": {"method": "platt", "a": 0.9, "b": 0.1},
        }
    elif family == "logistic_stagewise_binary":
        payload["classes"] = ["neg", "pos"]
        payload["model"] = {
            "stage_classes": ["none", "mild", "severe"],
            "intercept": [0.5, -1.0, -2.0],
            "coef": [[-0.3, 0.1], [0.6, 0.2], [1.5, -0.3]],
            "calibration": {"method": "platt", "a": 0.8, "b": -0.2},
        }
    elif family == "logistic_multinomial":
        payload["classes"] = ["a", "b", "c"]
        payload["model"] = {
            "intercept": [0.5, -0.2, -0.3],
            "coef": [[0.3, 0.1], [-0.2, 0.4], [-0.1, -0.5]],
            "calibration": {"method": "temperature", "temperature": 1.3},
        }
    else:
        payload["classes"] = ["death"]
        payload["model"] = {
            "coef": [0.7, 0.2],
            "baseline_survival": {"horizon_days": 1826.25, "value": 0.8},
            "event_probability_name": "p_death_5y",
        }
    return payload


@pytest.fixture
def saved_binary(tmp_path: Path) -> Path:
    artefact_save(tmp_path, _payload(), card_markdown="# toy\n", created_with="test")
    return tmp_path


# ------------------------------------------------------------------ artefact integrity


def test_artefact_loads_and_verifies_sha256(saved_binary: Path) -> None:
    loaded = artefact_load(saved_binary, "toy_model")
    manifest = json.loads((saved_binary / "toy_model" / "1.0.0" / MANIFEST_FILE).read_text())
    assert loaded.sha256 == manifest["sha256"]
    assert loaded.version == "1.0.0"
    assert manifest["created_with"] == "test"


def test_artefact_refuses_tampered_model_json(saved_binary: Path) -> None:
    model_path = saved_binary / "toy_model" / "1.0.0" / MODEL_FILE
    tampered = model_path.read_text().replace("1.2", "9.2", 1)
    model_path.write_text(tampered)
    with pytest.raises(ArtefactIntegrityError) as excinfo:
        artefact_load(saved_binary, "toy_model", "1.0.0")
    assert excinfo.value.code == "risk_artefact_hash_mismatch"
    assert excinfo.value.detail["expected"] != excinfo.value.detail["actual"]


def test_artefact_missing_has_stable_code(tmp_path: Path) -> None:
    with pytest.raises(ArtefactMissing) as excinfo:
        artefact_load(tmp_path, "toy_model")
    assert excinfo.value.code == "risk_artefact_missing"


def test_artefact_bytes_are_canonical(tmp_path: Path) -> None:
    a = artefact_save(tmp_path / "a", _payload(), card_markdown="", created_with="x")
    b = artefact_save(tmp_path / "b", _payload(), card_markdown="", created_with="x")
    assert a.sha256 == b.sha256


# ------------------------------------------------------------------ predictor contract


def test_predictor_shape_order_and_imputation_flags(saved_binary: Path) -> None:
    artefact = artefact_load(saved_binary, "toy_model")
    values: dict[str, list[object]] = {"AST": [20.0, None, 200.0, 1000.0], "Sex": ["m", "f", None, "f"]}
    preds = risk_predict(artefact, values)
    assert preds.values.shape == (4, 2)
    assert preds.outputs == ("p_neg", "p_pos")
    np.testing.assert_allclose(preds.values.sum(axis=1), 1.0)
    assert preds.imputed == [(), ("AST",), ("Sex",), ()]
    assert preds.out_of_range == [(), (), (), ("AST",)]  # 1000 U/L is above the training range
    # order: each row scored on its own, identical to scoring it alone
    for i in range(4):
        alone = risk_predict(artefact, {k: [v[i]] for k, v in values.items()})
        np.testing.assert_allclose(alone.values[0], preds.values[i])
    # hand computation for row 3 (AST 200, Sex imputed as male)
    z = [(math.log(200.0) - math.log(20.0)) / 0.5, (1.0 - 0.6) / 0.49]
    lp = -1.5 + 1.2 * z[0] - 0.4 * z[1]
    assert preds.values[2, 1] == pytest.approx(1 / (1 + math.exp(-(0.9 * lp + 0.1))))
    # higher AST, higher probability (positive coefficient, monotone calibration)
    assert preds.values[2, 1] > preds.values[0, 1]


def test_predictor_rejects_malformed_input(saved_binary: Path) -> None:
    artefact = artefact_load(saved_binary, "toy_model")
    with pytest.raises(InputInvalid):
        risk_predict(artefact, {"AST": ["abc"], "Sex": ["m"]})
    with pytest.raises(InputInvalid):
        risk_predict(artefact, {"AST": [20.0], "Sex": ["x"]})
    with pytest.raises(InputInvalid):
        risk_predict(artefact, {"AST": [-3.0], "Sex": ["m"]})
    with pytest.raises(InputInvalid):
        risk_predict(artefact, {"AST": [20.0]})


@pytest.mark.parametrize(
    "family", ["logistic_binary", "logistic_multinomial", "logistic_stagewise_binary", "cox_ph"]
)
def test_contributions_sum_to_linear_predictor_minus_intercept(tmp_path: Path, family: str) -> None:
    artefact = artefact_save(tmp_path, _payload(family), card_markdown="", created_with="x")
    preds = risk_predict(artefact, {"AST": [5.0, 20.0, 80.0, None], "Sex": ["m", "f", "m", None]})
    summed = preds.contributions.sum(axis=2)
    np.testing.assert_allclose(summed, preds.linear_predictor - preds.intercept[None, :], atol=1e-12)
    top = top_contributions(preds, 0, k=1)
    assert top[0][0] == "log_AST"  # |1.2 * z| dominates for AST 5 U/L


def test_stagewise_binary_hand_computed(tmp_path: Path) -> None:
    artefact = artefact_save(
        tmp_path, _payload("logistic_stagewise_binary"), card_markdown="", created_with="x"
    )
    preds = risk_predict(artefact, {"AST": [20.0, 200.0, 3.0], "Sex": ["f", "m", "m"]})
    assert preds.outputs == ("p_neg", "p_pos")
    assert preds.contribution_targets == ("mild vs none", "severe vs none")
    for row, (ast, male) in enumerate([(20.0, 0.0), (200.0, 1.0), (3.0, 1.0)]):
        z = [(math.log(ast) - math.log(20.0)) / 0.5, (male - 0.6) / 0.49]
        lp = [
            b + w[0] * z[0] + w[1] * z[1]
            for b, w in zip([0.5, -1.0, -2.0], [[-0.3, 0.1], [0.6, 0.2], [1.5, -0.3]], strict=True)
        ]
        mild, severe = lp[1] - lp[0], lp[2] - lp[0]
        assert preds.linear_predictor[row].tolist() == pytest.approx([mild, severe])
        score = math.log(math.exp(mild) + math.exp(severe))  # log-odds of any positive stage
        assert preds.values[row, 1] == pytest.approx(1 / (1 + math.exp(-(0.8 * score - 0.2))))
        assert preds.values[row].sum() == pytest.approx(1.0)
    # a high AST makes "severe" the dominant stage; the batch output explains that stage
    assert preds.values[1, 1] > preds.values[0, 1] > preds.values[2, 1]
    rows = prediction_rows(preds, None, None)
    assert rows[1]["contributions_for"] == "severe vs none"
    assert rows[2]["contributions_for"] == "mild vs none"  # AST 3 U/L: severe is least likely


def test_cox_outputs_risk_and_probability(tmp_path: Path) -> None:
    artefact = artefact_save(tmp_path, _payload("cox_ph"), card_markdown="", created_with="x")
    preds = risk_predict(artefact, {"AST": [20.0, 200.0], "Sex": ["f", "f"]})
    assert preds.outputs == ("risk_score", "p_death_5y")
    risk, p5 = preds.values[:, 0], preds.values[:, 1]
    for r, p in zip(risk, p5, strict=True):
        assert p == pytest.approx(1 - 0.8 ** math.exp(r))
    assert risk[1] > risk[0] and p5[1] > p5[0]


# ------------------------------------------------------------------ Mayo and C-index


def test_mayo_risk_score_worked_examples() -> None:
    # Worked by hand: ln(1)=0, ln(3.5)=1.252763, ln(10)=2.302585
    # R = 0 - 2.53*1.252763 + 0.039*50 + 2.38*2.302585 + 0 = -3.169490 + 1.95 + 5.480153
    r1 = mayo_risk_score(bilirubin_mg_dl=1.0, albumin_g_dl=3.5, age_years=50, prothrombin_s=10.0, edema=0.0)
    assert float(r1) == pytest.approx(4.260663, abs=1e-5)
    # ln(5)=1.609438, ln(3)=1.098612, ln(12)=2.484907; edema despite diuretics = 1
    # R = 1.401820 - 2.779489 + 2.34 + 5.914078 + 0.859 = 7.735409
    r2 = mayo_risk_score(bilirubin_mg_dl=5.0, albumin_g_dl=3.0, age_years=60, prothrombin_s=12.0, edema=1.0)
    assert float(r2) == pytest.approx(7.735409, abs=1e-5)


def test_mayo_from_pbc_values_converts_units_and_flags_imputation() -> None:
    values = {
        "Bilirubin": np.array([1.0, 5.0]),
        "Albumin": np.array([3.5, 3.0]),
        "Age": np.array([50 * 365.25, 60 * 365.25]),  # the PBC file gives age in days
        "Prothrombin": np.array([10.0, np.nan]),
        "Edema": np.array(["N", "Y"], dtype=object),
    }
    score, imputed = mayo_from_pbc_values(values, {"Prothrombin": 12.0})
    np.testing.assert_allclose(score, [4.260663, 7.735409], atol=1e-5)
    assert imputed.tolist() == [False, True]


def test_c_index_hand_computed() -> None:
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, False, True])
    # comparable pairs (earlier time had the event): (0,1) (0,2) (0,3) (1,2) (1,3) -> 5
    # risks 0.9 0.2 0.5 0.1: concordant all but (1,2) -> 4/5
    assert harrell_c_index(time, event, np.array([0.9, 0.2, 0.5, 0.1])) == pytest.approx(0.8)
    # a tie in risk counts one half: (1,2) tied -> 4.5/5
    assert harrell_c_index(time, event, np.array([0.9, 0.5, 0.5, 0.1])) == pytest.approx(0.9)
    # tied times are not comparable pairs, so nothing is left to compare
    assert math.isnan(harrell_c_index(np.array([1.0, 1.0]), np.array([True, True]), np.array([1.0, 0.0])))


# ------------------------------------------------------------------ train -> save -> load -> predict


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_round_trip_classifier_on_synthetic_hcv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_classifier, "CV_REPEATS", 2)  # mechanics, not CV precision
    rows = hcv_rows(seed=3)
    train_csv = write_hcv_csv(tmp_path / "hcv.csv", rows)
    saved = risk_model_train_and_save(
        key="hcv_binary", data_path=train_csv, out_root=tmp_path / "art", created_with="test cmd"
    )
    folder = tmp_path / "art" / "hcv_binary" / task_get("hcv_binary").version
    assert {p.name for p in folder.iterdir()} == {"model.json", "MODEL_CARD.md", "manifest.json"}
    card = (folder / "MODEL_CARD.md").read_text()
    assert saved.sha256 in card and "test cmd" in card and "supports, and never replaces" in card
    payload = saved.payload
    assert payload["family"] == "logistic_stagewise_binary"
    assert payload["model"]["stage_classes"] == ["donor", "hepatitis", "fibrosis", "cirrhosis"]
    assert payload["metrics"]["holdout"]["auroc"]["estimate"] > 0.8

    # suspect donors (0s) are in the split but neither trained on nor in the primary metric
    labels = [r[1] for r in rows]
    n_suspect = labels.count("0s=suspect Blood Donor")
    held_out = set(payload["training"]["holdout_rows"]["ids"])
    suspect_held_out = sum(1 for r in rows if r[1].startswith("0s") and r[0] in held_out)
    training = payload["training"]
    assert training["excluded_labels"] == ["0s"]
    assert training["n_train"] + len(held_out) + n_suspect - suspect_held_out == len(rows)
    assert payload["metrics"]["holdout"]["n"] == len(held_out) - suspect_held_out
    assert payload["metrics"]["holdout"]["n_excluded_label_rows"] == suspect_held_out
    if suspect_held_out:
        assert payload["metrics"]["holdout_excluded_as_negative"]["n"] == len(held_out)
    # the shipped fit uses every usable row; the evaluation fit (training part) is kept beside it
    assert training["final_fit"]["n_rows"] == len(rows) - n_suspect
    assert training["evaluation_fit"]["n_rows"] == training["n_train"]
    assert training["evaluation_fit"]["model"]["coef"] != payload["model"]["coef"]
    assert training["cv"]["selected"].startswith("per-stage multinomial")
    assert all(not c["name"].startswith("per-stage") for c in training["cv"]["comparators"])

    # same seed, same bytes: the training command reproduces the artefact exactly
    again = risk_model_train_and_save(
        key="hcv_binary", data_path=train_csv, out_root=tmp_path / "art2", created_with="test cmd"
    )
    assert again.sha256 == saved.sha256

    # predict on a label-less file in the same format, with a missing lab, order preserved
    scoring = [list(r) for r in rows[::-1][:12]]
    scoring[4][5] = "NA"  # ALP
    in_csv = write_hcv_csv(tmp_path / "score.csv", scoring, with_labels=False)
    out_csv = tmp_path / "preds.csv"
    n = risk_predict_file(
        key="hcv_binary", input_path=in_csv, output_path=out_csv, artefact_root=tmp_path / "art"
    )
    out = _read_csv(out_csv)
    assert n == len(out) == 12
    assert [r["id"] for r in out] == [r[0] for r in scoring]
    assert [r["row"] for r in out] == [str(i) for i in range(1, 13)]
    assert out[4]["imputed"] == "ALP"
    for r in out:
        assert float(r["p_donor"]) + float(r["p_hcv_disease"]) == pytest.approx(1.0, abs=1e-5)
        assert r["model_sha256"] == saved.sha256
        assert len(r["top_contributions"].split(";")) == 3


def test_round_trip_cox_on_synthetic_pbc(tmp_path: Path) -> None:
    rows = pbc_rows(seed=5)
    saved = risk_model_train_and_save(
        key="pbc",
        data_path=write_pbc_csv(tmp_path / "pbc.csv", rows),
        out_root=tmp_path / "art",
        created_with="x",
    )
    s0 = saved.payload["model"]["baseline_survival"]["value"]
    assert 0.0 < s0 < 1.0
    assert saved.payload["metrics"]["holdout"]["mayo_c_index"]["estimate"] is not None
    in_csv = write_pbc_csv(tmp_path / "score.csv", rows[:9], with_outcome=False)
    out_csv = tmp_path / "preds.csv"
    risk_predict_file(key="pbc", input_path=in_csv, output_path=out_csv, artefact_root=tmp_path / "art")
    out = _read_csv(out_csv)
    assert [r["ID"] for r in out] == [r[0] for r in rows[:9]]
    for r in out:
        p = float(r["p_death_5y"])
        assert 0.0 <= p <= 1.0
        assert p == pytest.approx(1 - s0 ** math.exp(float(r["risk_score"])), rel=1e-4, abs=1e-6)

"""Classifiers (hcv_binary, hcv_stage, ilpd): penalised logistic regression, calibrated.

Candidates: L2 logistic regression over a small C grid on log-transformed, standardised labs;
histogram gradient boosting is cross-validated beside them as a comparator only (it cannot be
exported as coefficients, so it is reported, never selected). Calibration is fitted on
out-of-fold linear predictors: Platt scaling (binary) or a single temperature (multiclass),
which keeps the per-feature contributions meaningful.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from inference.risk.learned import metrics
from inference.risk.learned.datasets import FORMATS, TaskSpec, cohort_read, outcome_encode
from inference.risk.learned.errors import TrainingDataInvalid
from inference.risk.learned.evaluation import evaluate_binary, evaluate_multiclass
from inference.risk.learned.features import (
    HCV_FEATURES,
    ILPD_FEATURES,
    FeatureDef,
    feature_specs_fit,
    features_encode,
)
from inference.risk.learned.payload import (
    artefact_preview,
    base_payload,
    columns_of,
    holdout_ids,
    input_block,
    target_block,
    values_subset,
)
from inference.risk.learned.predictor import risk_predict
from inference.risk.learned.selection import (
    HOLDOUT_FRACTION,
    CandidateScore,
    candidate_select,
    cv_folds,
    duplicate_groups,
    holdout_split,
)

LOGISTIC_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
# a candidate within this distance of the best CV mean counts as equally good
TOLERANCE = {"auroc": 0.002, "log_loss": 0.005}
# gradient boosting must beat the chosen linear model by this much in CV to count as "clearly"
GB_MARGIN = 0.01
CLASSIFIER_FEATURES: dict[str, tuple[FeatureDef, ...]] = {"hcv": HCV_FEATURES, "ilpd": ILPD_FEATURES}

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _logistic(c: float) -> LogisticRegression:
    # newton-cholesky converges to the exact optimum, so refits reproduce to the last digits
    return LogisticRegression(C=c, l1_ratio=0.0, solver="newton-cholesky", tol=1e-10, max_iter=1000)


def _scores(model: LogisticRegression, z: FloatArray, multiclass: bool) -> FloatArray:
    lp = np.asarray(model.decision_function(z), dtype=float)
    return lp if multiclass else lp.reshape(-1)


def _proba_from_uncalibrated(lp: FloatArray, multiclass: bool) -> FloatArray:
    if multiclass:
        e = np.exp(lp - lp.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=float)
    p = 1.0 / (1.0 + np.exp(-lp))
    return np.column_stack([1.0 - p, p])


def _fold_metric(y: IntArray, proba: FloatArray, multiclass: bool) -> tuple[float, dict[str, float]]:
    if multiclass:
        return metrics.log_loss(y, proba), {"macro_auroc_ovr": metrics.macro_auroc_ovr(y, proba)}
    return metrics.auroc(y, proba[:, 1]), {"log_loss": metrics.log_loss(y, proba)}


def classifier_train(
    task: TaskSpec, data_path: Path, *, seed: int, version: str, created_with: str
) -> dict[str, Any]:
    fmt = FORMATS[task.format_key]
    defs = CLASSIFIER_FEATURES[fmt.key]
    columns = columns_of(defs)
    cohort = cohort_read(fmt, data_path, columns=columns, require_outcome=True)
    y_all = outcome_encode(task, cohort)
    multiclass = task.kind == "multiclass"
    if len(np.unique(y_all)) != len(task.classes):
        raise TrainingDataInvalid(f"{task.key}: not every class is present in {data_path}")
    strata: Sequence[object] = (
        cohort.raw_labels if task.holdout_strata == "raw_label" and cohort.raw_labels else y_all.tolist()
    )
    groups = duplicate_groups(cohort.values, extra=cohort.raw_labels)
    train, test = holdout_split(strata, groups, seed=seed)
    values_tr, y_tr = values_subset(cohort.values, train), y_all[train]
    folds = cv_folds(y_tr.tolist(), groups[train], seed=seed)

    encoded = []
    for _, tr, va in folds:
        specs = feature_specs_fit(defs, values_subset(values_tr, tr))
        encoded.append(
            (
                features_encode(specs, values_subset(values_tr, tr)).z,
                features_encode(specs, values_subset(values_tr, va)).z,
            )
        )
    metric_name = "log_loss" if multiclass else "auroc"
    candidates: list[CandidateScore] = []
    for c in LOGISTIC_C_GRID:
        cand = CandidateScore(f"logistic L2 C={c:g}", {"family": "logistic", "C": c}, (c,))
        for (_, tr, va), (z_tr, z_va) in zip(folds, encoded, strict=True):
            lp = _scores(_logistic(c).fit(z_tr, y_tr[tr]), z_va, multiclass)
            score, extra = _fold_metric(y_tr[va], _proba_from_uncalibrated(lp, multiclass), multiclass)
            cand.fold_scores.append(score)
            for k, v in extra.items():
                cand.extra_scores.setdefault(k, []).append(v)
        candidates.append(cand)
    gb = CandidateScore(
        "gradient boosting (comparator)",
        {"family": "hist_gradient_boosting", "max_depth": 3, "learning_rate": 0.05, "max_iter": 200},
        (float("inf"),),
        exportable=False,
    )
    for (_, tr, va), (z_tr, z_va) in zip(folds, encoded, strict=True):
        model = HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.05, max_iter=200, random_state=seed
        )
        score, extra = _fold_metric(y_tr[va], model.fit(z_tr, y_tr[tr]).predict_proba(z_va), multiclass)
        gb.fold_scores.append(score)
        for k, v in extra.items():
            gb.extra_scores.setdefault(k, []).append(v)
    candidates.append(gb)
    selected = candidate_select(candidates, higher_is_better=not multiclass, tolerance=TOLERANCE[metric_name])
    c_sel = float(selected.params["C"])
    gb_gain = (gb.mean - selected.mean) if not multiclass else (selected.mean - gb.mean)
    comparator_note = (
        f"Gradient boosting {'beat' if gb_gain > GB_MARGIN else 'did not clearly beat'} the selected "
        f"logistic model in CV ({metric_name} {gb.mean:.4f} vs {selected.mean:.4f}; margin for "
        f"'clearly' {GB_MARGIN}). "
        + (
            "It is not exportable to the JSON format, so the logistic model is kept; see limits."
            if gb_gain > GB_MARGIN
            else "The transparent logistic model is kept."
        )
    )

    # calibration: out-of-fold linear predictors of the first CV repeat (each row once)
    oof = np.zeros((len(train), len(task.classes))) if multiclass else np.zeros(len(train))
    for (repeat, tr, va), (z_tr, z_va) in zip(folds, encoded, strict=True):
        if repeat == 0:
            oof[va] = _scores(_logistic(c_sel).fit(z_tr, y_tr[tr]), z_va, multiclass)
    if multiclass:
        calibration: dict[str, Any] = {
            "method": "temperature",
            "temperature": metrics.temperature_fit(y_tr, oof),
        }
    else:
        a, b = metrics.platt_fit(y_tr, oof)
        calibration = {"method": "platt", "a": a, "b": b}
    calibration["fitted_on"] = "out-of-fold linear predictors, CV repeat 1 (5 folds), training part only"

    specs = feature_specs_fit(defs, values_tr)
    final = _logistic(c_sel).fit(features_encode(specs, values_tr).z, y_tr)
    if multiclass:
        model_block: dict[str, Any] = {
            "intercept": final.intercept_.tolist(),
            "coef": final.coef_.tolist(),
        }
    else:
        model_block = {"intercept": float(final.intercept_[0]), "coef": final.coef_[0].tolist()}
    model_block |= {"C": c_sel, "penalty": "l2", "calibration": calibration}

    payload = base_payload(
        task,
        fmt,
        cohort,
        version=version,
        created_with=created_with,
        family="logistic_multinomial" if multiclass else "logistic_binary",
    )
    payload |= {
        "input": input_block(fmt, columns),
        "features": [s.to_json() for s in specs],
        "model": model_block,
    }
    if not multiclass:
        payload["positive_class"] = task.classes[1]

    preds = risk_predict(artefact_preview(payload), values_subset(cohort.values, test))
    y_te = y_all[test]
    if multiclass:
        holdout = evaluate_multiclass(y_te, preds.values, task.classes, seed=seed)
        headline = holdout["macro_auroc_ovr"]["estimate"]
    else:
        holdout = evaluate_binary(y_te, preds.values[:, 1], train_prevalence=float(y_tr.mean()), seed=seed)
        headline = holdout["auroc"]["estimate"]
    payload["training"] = {
        "seed": seed,
        "holdout_fraction": HOLDOUT_FRACTION,
        "holdout_stratified_by": "raw label code" if task.holdout_strata == "raw_label" else "model label",
        "n_train": len(train),
        "n_holdout": len(test),
        "train_class_counts": np.bincount(y_tr, minlength=len(task.classes)).tolist(),
        "holdout_rows": holdout_ids(cohort, test),
        "cv": {
            "splits": 5,
            "repeats": 3,
            "stratified_by": "model label",
            "grouped_by": "exact duplicate rows",
            "selection_metric": metric_name,
            "selection_rule": (
                f"best mean CV {metric_name}; among candidates within {TOLERANCE[metric_name]} of it, "
                "the most regularised (smallest C); non-exportable comparators cannot be selected"
            ),
            "candidates": [c.to_json() for c in candidates],
            "selected": selected.name,
            "comparator_note": comparator_note,
        },
    }
    payload["metrics"] = {"holdout": holdout, "target": target_block(task.key, headline)}
    return payload

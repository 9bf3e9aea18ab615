"""Classifiers (hcv_binary, hcv_stage, ilpd): penalised logistic regression, calibrated.

Selectable candidates are L2 logistic models over a small C grid on log-transformed,
standardised labs: binary (ilpd), multinomial (hcv_stage), or, for a binary outcome whose
positive class is a union of stages (hcv_binary: hepatitis, fibrosis or cirrhosis), a
multinomial over the stages whose score is the log-odds of any positive stage. The stagewise
form is fixed for such outcomes (see the hcv_binary card for how that choice was made): the
stages have different lab signatures (in this cohort ALP runs low in hepatitis and fibrosis
but not in cirrhosis, and decompensated cirrhosis can bring renal failure), which one linear
log-odds cannot represent. Comparators (a single binary logistic model for stagewise tasks,
gradient boosting, splines, monotone boosting) are cross-validated beside them and reported,
never selected. Calibration is fitted on out-of-fold scores: Platt scaling (binary) or a
single temperature (multiclass), which keeps the per-feature contributions meaningful.

The hold-out is scored with the model fitted on the training part only; the shipped model is
then refitted, with the selected settings, on every development row with a usable label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import SplineTransformer

from inference.risk.learned.datasets import EXCLUDED, FORMATS, TaskSpec, cohort_read, outcome_encode
from inference.risk.learned.errors import TrainingDataInvalid
from inference.risk.learned.features import (
    HCV_FEATURES,
    ILPD_FEATURES,
    FeatureDef,
    feature_specs_fit,
    features_encode,
)
from inference.risk.learned.predictor import risk_predict
from inference.training.risk import metrics
from inference.training.risk.evaluation import evaluate_binary, evaluate_multiclass
from inference.training.risk.payload import (
    Values,
    artefact_preview,
    base_payload,
    columns_of,
    holdout_ids,
    input_block,
    target_block,
    values_subset,
)
from inference.training.risk.selection import (
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
# a comparator must beat the chosen model by this much in CV to count as "clearly" better
GB_MARGIN = 0.01
# logistic fits are cheap: 10 repeats of 5-fold CV make the means stable to about 0.001
CV_REPEATS = 10
CLASSIFIER_FEATURES: dict[str, tuple[FeatureDef, ...]] = {"hcv": HCV_FEATURES, "ilpd": ILPD_FEATURES}
# Clinical direction of each input for the monotone-boosting comparator (+1: higher value,
# more likely a liver patient); inputs not listed are unconstrained.
MONOTONE: dict[str, dict[str, int]] = {
    "ilpd": {"log_TB": 1, "log_DB": 1, "log_Alkphos": 1, "log_Sgpt": 1, "log_Sgot": 1, "ALB": -1, "A/G": -1},
}
SPLINE_C = 0.1

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
IndexArray = NDArray[np.intp]
# (training z, training labels, validation z) -> validation scores (higher = more positive)
# or class probabilities
Scorer = Callable[[FloatArray, IntArray, FloatArray], FloatArray]


def _logistic(c: float) -> LogisticRegression:
    # newton-cholesky converges to the exact optimum, so refits reproduce to the last digits
    return LogisticRegression(C=c, l1_ratio=0.0, solver="newton-cholesky", tol=1e-10, max_iter=1000)


@dataclass(frozen=True)
class _Kind:
    """How one task turns a fitted logistic model into scores and probabilities."""

    multiclass: bool  # hcv_stage: one probability per class
    stagewise: bool  # hcv_binary: multinomial over stages, binary output

    def score(self, model: LogisticRegression, z: FloatArray) -> FloatArray:
        """Uncalibrated scores: class log-odds (multiclass), log-odds of positive (binary)."""
        lp = np.asarray(model.decision_function(z), dtype=float)
        if self.multiclass:
            return lp
        if self.stagewise:
            return np.asarray(logsumexp(lp[:, 1:], axis=1) - lp[:, 0], dtype=float)
        return lp.reshape(-1)

    def proba(self, score: FloatArray) -> FloatArray:
        if self.multiclass:
            e = np.exp(score - score.max(axis=1, keepdims=True))
            return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=float)
        p = 1.0 / (1.0 + np.exp(-score))
        return np.column_stack([1.0 - p, p])

    def fold_metric(self, y: IntArray, proba: FloatArray) -> tuple[float, dict[str, float]]:
        if self.multiclass:
            return metrics.log_loss(y, proba), {"macro_auroc_ovr": metrics.macro_auroc_ovr(y, proba)}
        return metrics.auroc(y, proba[:, 1]), {"log_loss": metrics.log_loss(y, proba)}


@dataclass
class _CV:
    """Cross-validation folds over the rows of one fit, with per-fold encoded features."""

    folds: list[tuple[int, IndexArray, IndexArray]]
    encoded: list[tuple[FloatArray, FloatArray]]


def _cv_prepare(
    defs: Sequence[FeatureDef],
    values: Values,
    strata: IntArray,
    groups: NDArray[np.int64],
    *,
    seed: int,
    repeats: int,
) -> _CV:
    folds = cv_folds(strata.tolist(), groups, seed=seed, n_repeats=repeats)
    encoded = []
    for _, tr, va in folds:
        specs = feature_specs_fit(defs, values_subset(values, tr))
        encoded.append(
            (
                features_encode(specs, values_subset(values, tr)).z,
                features_encode(specs, values_subset(values, va)).z,
            )
        )
    return _CV(folds, encoded)


def _cross_validate(
    cand: CandidateScore,
    cv: _CV,
    y_fit: IntArray,
    y_eval: IntArray,
    kind: _Kind,
    scorer: Scorer,
    *,
    probabilities: bool,
) -> CandidateScore:
    """Fill ``cand`` with one score per fold; models are fitted on ``y_fit`` (stages for a
    stagewise task) and judged on ``y_eval`` (the task's own outcome)."""
    for (_, tr, va), (z_tr, z_va) in zip(cv.folds, cv.encoded, strict=True):
        out = scorer(z_tr, y_fit[tr], z_va)
        proba = out if probabilities else kind.proba(out)
        score, extra = kind.fold_metric(y_eval[va], proba)
        cand.fold_scores.append(score)
        for k, v in extra.items():
            cand.extra_scores.setdefault(k, []).append(v)
    return cand


def _logistic_scorer(c: float, kind: _Kind) -> Scorer:
    def fit_score(z_tr: FloatArray, y_tr: IntArray, z_va: FloatArray) -> FloatArray:
        return kind.score(_logistic(c).fit(z_tr, y_tr), z_va)

    return fit_score


def _gb_scorer(seed: int) -> Scorer:
    def fit_proba(z_tr: FloatArray, y_tr: IntArray, z_va: FloatArray) -> FloatArray:
        model = HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.05, max_iter=200, random_state=seed
        )
        return np.asarray(model.fit(z_tr, y_tr).predict_proba(z_va), dtype=float)

    return fit_proba


def _monotone_gb_scorer(directions: list[int], seed: int) -> Scorer:
    def fit_proba(z_tr: FloatArray, y_tr: IntArray, z_va: FloatArray) -> FloatArray:
        model = HistGradientBoostingClassifier(
            max_depth=2,
            learning_rate=0.03,
            max_iter=300,
            min_samples_leaf=20,
            l2_regularization=1.0,
            monotonic_cst=directions,
            early_stopping=False,
            random_state=seed,
        )
        return np.asarray(model.fit(z_tr, y_tr).predict_proba(z_va), dtype=float)

    return fit_proba


def _spline_scorer(numeric: list[int], kind: _Kind) -> Scorer:
    def fit_score(z_tr: FloatArray, y_tr: IntArray, z_va: FloatArray) -> FloatArray:
        # cubic B-splines, 4 knots at training quantiles, constant beyond the training range
        spline = SplineTransformer(n_knots=4, degree=3, knots="quantile", extrapolation="constant")
        spline.fit(z_tr[:, numeric])
        other = [j for j in range(z_tr.shape[1]) if j not in numeric]

        def design(z: FloatArray) -> FloatArray:
            return np.hstack([z[:, other], spline.transform(z[:, numeric])])

        return kind.score(_logistic(SPLINE_C).fit(design(z_tr), y_tr), design(z_va))

    return fit_score


def _candidates_and_comparators(
    task: TaskSpec,
    defs: Sequence[FeatureDef],
    cv: _CV,
    y_fit: IntArray,
    y_eval: IntArray,
    kind: _Kind,
    *,
    seed: int,
) -> tuple[list[CandidateScore], list[CandidateScore]]:
    family_text = "per-stage multinomial logistic L2" if kind.stagewise else "logistic L2"
    candidates = [
        _cross_validate(
            CandidateScore(f"{family_text} C={c:g}", {"family": "logistic", "C": c}, (c,)),
            cv,
            y_fit,
            y_eval,
            kind,
            _logistic_scorer(c, kind),
            probabilities=False,
        )
        for c in LOGISTIC_C_GRID
    ]
    comparators: list[CandidateScore] = []
    if kind.stagewise:
        # the single binary logistic model (v1's form), fitted on the task's own outcome
        plain = _Kind(multiclass=False, stagewise=False)
        for c in LOGISTIC_C_GRID:
            comparators.append(
                _cross_validate(
                    CandidateScore(
                        f"binary logistic L2 C={c:g}", {"family": "logistic_binary", "C": c}, (c,)
                    ),
                    cv,
                    y_eval,
                    y_eval,
                    plain,
                    _logistic_scorer(c, plain),
                    probabilities=False,
                )
            )

    def comparator(description: str, params: dict[str, Any], scorer: Scorer, scored_as: _Kind, *,
                   probabilities: bool) -> CandidateScore:
        """A model that is never exported, cross-validated on the task's own outcome."""
        cand = CandidateScore(description, params, (float("inf"),), exportable=False)
        return _cross_validate(cand, cv, y_eval, y_eval, scored_as, scorer, probabilities=probabilities)

    comparators.append(comparator(
        "gradient boosting",
        {"family": "hist_gradient_boosting", "max_depth": 3, "learning_rate": 0.05, "max_iter": 200},
        _gb_scorer(seed), kind if kind.multiclass else _Kind(multiclass=False, stagewise=False), probabilities=True,
    ))
    if not kind.multiclass and not kind.stagewise:
        numeric = [j for j, d in enumerate(defs) if d.levels is None]
        comparators.append(comparator(
            f"logistic L2 C={SPLINE_C:g} on cubic splines (4 quantile knots) of each numeric input",
            {"family": "spline_logistic", "C": SPLINE_C, "n_knots": 4},
            _spline_scorer(numeric, kind), kind, probabilities=False,
        ))
        directions = MONOTONE.get(task.format_key)
        if directions:
            cst = [directions.get(d.name, 0) for d in defs]
            comparators.append(comparator(
                "monotone gradient boosting (clinical directions)",
                {"family": "hist_gradient_boosting", "max_depth": 2, "monotonic_cst": directions},
                _monotone_gb_scorer(cst, seed), kind, probabilities=True,
            ))
    return candidates, comparators


def _fit_block(
    defs: Sequence[FeatureDef],
    values: Values,
    y_fit: IntArray,
    cv: _CV,
    kind: _Kind,
    c_sel: float,
    n_classes: int,
    stage_classes: tuple[str, ...],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Features and model section for one fit: calibration on out-of-fold scores of the first
    CV repeat (each row scored once), then the chosen model refitted on all ``values``."""
    n = len(y_fit)
    oof = np.zeros((n, n_classes)) if kind.multiclass else np.zeros(n)
    for (repeat, tr, va), (z_tr, z_va) in zip(cv.folds, cv.encoded, strict=True):
        if repeat == 0:
            oof[va] = kind.score(_logistic(c_sel).fit(z_tr, y_fit[tr]), z_va)
    if kind.multiclass:
        calibration: dict[str, Any] = {
            "method": "temperature",
            "temperature": metrics.temperature_fit(y_fit, oof),
        }
    else:
        y_binary = (y_fit > 0).astype(np.int64)
        a, b = metrics.platt_fit(y_binary, oof)
        calibration = {"method": "platt", "a": a, "b": b}
        if kind.stagewise:
            calibration["score"] = "log-odds of any positive stage: log(sum_k>0 exp(lp_k - lp_0))"
    calibration["fitted_on"] = f"out-of-fold scores, CV repeat 1 (5 folds), the {n} rows of this fit"

    specs = feature_specs_fit(defs, values)
    final = _logistic(c_sel).fit(features_encode(specs, values).z, y_fit)
    if kind.multiclass or kind.stagewise:
        model_block: dict[str, Any] = {"intercept": final.intercept_.tolist(), "coef": final.coef_.tolist()}
    else:
        model_block = {"intercept": float(final.intercept_[0]), "coef": final.coef_[0].tolist()}
    if kind.stagewise:
        model_block["stage_classes"] = list(stage_classes)
    model_block |= {"C": c_sel, "penalty": "l2", "calibration": calibration}
    return [s.to_json() for s in specs], model_block


def _family(kind: _Kind) -> str:
    if kind.multiclass:
        return "logistic_multinomial"
    return "logistic_stagewise_binary" if kind.stagewise else "logistic_binary"


def classifier_train(
    task: TaskSpec, data_path: Path, *, seed: int, version: str, created_with: str
) -> dict[str, Any]:
    fmt = FORMATS[task.format_key]
    defs = CLASSIFIER_FEATURES[fmt.key]
    columns = columns_of(defs)
    cohort = cohort_read(fmt, data_path, columns=columns, require_outcome=True)
    y_all = outcome_encode(task, cohort)
    kind = _Kind(multiclass=task.kind == "multiclass", stagewise=bool(task.stage_classes))
    # labels the model is fitted on: stages for a stagewise task, else the outcome itself
    y_fit_all = outcome_encode(task, cohort, mapping=task.stage_map) if kind.stagewise else y_all
    usable_all = np.flatnonzero(y_all != EXCLUDED)
    n_fit_classes = len(task.stage_classes) if kind.stagewise else len(task.classes)
    if len(np.unique(y_fit_all[usable_all])) != n_fit_classes:
        raise TrainingDataInvalid(f"{task.key}: not every class is present in {data_path}")
    # the split is made over every row, excluded labels included, so it is the same hold-out
    # whatever the task excludes
    strata: Sequence[object] = (
        cohort.raw_labels if task.holdout_strata == "raw_label" and cohort.raw_labels else y_all.tolist()
    )
    groups = duplicate_groups(cohort.values, extra=cohort.raw_labels)
    train_all, test = holdout_split(strata, groups, seed=seed)
    train = train_all[y_all[train_all] != EXCLUDED]
    values_tr, y_tr, y_fit_tr = values_subset(cohort.values, train), y_all[train], y_fit_all[train]
    # folds are stratified by the fitted labels, so every stage is in every training fold
    cv = _cv_prepare(defs, values_tr, y_fit_tr, groups[train], seed=seed, repeats=CV_REPEATS)

    metric_name = "log_loss" if kind.multiclass else "auroc"
    candidates, comparators = _candidates_and_comparators(task, defs, cv, y_fit_tr, y_tr, kind, seed=seed)
    selected = candidate_select(
        candidates, higher_is_better=not kind.multiclass, tolerance=TOLERANCE[metric_name]
    )
    c_sel = float(selected.params["C"])
    best_comparator = (min if kind.multiclass else max)(comparators, key=lambda c: c.mean)
    gain = (
        (selected.mean - best_comparator.mean) if kind.multiclass else (best_comparator.mean - selected.mean)
    )
    comparator_note = (
        f"Best comparator: {best_comparator.name} ({metric_name} {best_comparator.mean:.4f} vs "
        f"{selected.mean:.4f} for the selected model); it "
        f"{'beat' if gain > GB_MARGIN else 'did not clearly beat'} the selected model (margin for "
        f"'clearly' {GB_MARGIN}). Comparators are reported, never selected"
        + ("; see limits." if gain > GB_MARGIN else "; the selected model is kept.")
    )

    # evaluation fit: training part only, scored once on the hold-out
    eval_features, eval_model = _fit_block(
        defs, values_tr, y_fit_tr, cv, kind, c_sel, n_fit_classes, task.stage_classes
    )
    payload = base_payload(
        task, fmt, cohort, version=version, created_with=created_with, family=_family(kind)
    )
    payload |= {"input": input_block(fmt, columns), "features": eval_features, "model": eval_model}
    if not kind.multiclass:
        payload["positive_class"] = task.classes[1]
    preds = risk_predict(artefact_preview(payload), values_subset(cohort.values, test))
    used = y_all[test] != EXCLUDED
    y_te = y_all[test][used]
    if kind.multiclass:
        holdout = evaluate_multiclass(y_te, preds.values[used], task.classes, seed=seed)
        headline = holdout["macro_auroc_ovr"]["estimate"]
    else:
        holdout = evaluate_binary(y_te, preds.values[used, 1], train_prevalence=float(y_tr.mean()), seed=seed)
        headline = holdout["auroc"]["estimate"]
    holdout["n_excluded_label_rows"] = int(np.sum(~used))
    metrics_block: dict[str, Any] = {"holdout": holdout, "target": target_block(task.key, headline)}
    if task.excluded_labels and not kind.multiclass and not used.all():
        # the other reading of the outcome: excluded rows counted as the negative class
        y_sec = np.where(y_all[test] == EXCLUDED, 0, y_all[test])
        secondary = evaluate_binary(y_sec, preds.values[:, 1], train_prevalence=float(y_tr.mean()), seed=seed)
        metrics_block["holdout_excluded_as_negative"] = {
            "definition": f"rows labelled {', '.join(sorted(task.excluded_labels))} counted as {task.classes[0]}",
            "n": secondary["n"],
            "n_positive": secondary["n_positive"],
            "auroc": secondary["auroc"],
            "brier": secondary["brier"],
        }

    # shipped fit: every development row with a usable label, same settings
    cv_all = _cv_prepare(
        defs,
        values_subset(cohort.values, usable_all),
        y_fit_all[usable_all],
        groups[usable_all],
        seed=seed,
        repeats=1,
    )
    final_features, final_model = _fit_block(
        defs,
        values_subset(cohort.values, usable_all),
        y_fit_all[usable_all],
        cv_all,
        kind,
        c_sel,
        n_fit_classes,
        task.stage_classes,
    )
    payload["features"], payload["model"] = final_features, final_model
    payload["training"] = {
        "seed": seed,
        "holdout_fraction": HOLDOUT_FRACTION,
        "holdout_stratified_by": "raw label code" if task.holdout_strata == "raw_label" else "model label",
        "excluded_labels": sorted(task.excluded_labels),
        "n_train": len(train),
        "n_holdout": len(test),
        "train_class_counts": np.bincount(y_tr, minlength=len(task.classes)).tolist(),
        "holdout_rows": holdout_ids(cohort, test),
        "cv": {
            "splits": 5,
            "repeats": CV_REPEATS,
            "stratified_by": "stage label" if kind.stagewise else "model label",
            "grouped_by": "exact duplicate rows",
            "selection_metric": metric_name,
            "selection_rule": (
                f"best mean CV {metric_name}; among candidates within {TOLERANCE[metric_name]} of it, "
                "the most regularised (smallest C); comparators cannot be selected"
            ),
            "candidates": [c.to_json() for c in candidates],
            "comparators": [c.to_json() for c in comparators],
            "selected": selected.name,
            "comparator_note": comparator_note,
        },
        # the hold-out metrics come from this fit (training part only), kept so they can be
        # recomputed; the shipped features/model above are the refit on all usable rows
        "evaluation_fit": {"n_rows": len(train), "features": eval_features, "model": eval_model},
        "final_fit": {
            "n_rows": len(usable_all),
            "class_counts": np.bincount(y_all[usable_all], minlength=len(task.classes)).tolist(),
            "rows": "every development row with a usable label (training part and hold-out)",
        },
    }
    if kind.stagewise:
        payload["training"]["stage_class_counts"] = np.bincount(
            y_fit_all[usable_all], minlength=len(task.stage_classes)
        ).tolist()
    payload["metrics"] = metrics_block
    return payload

"""The PBC survival model: ridge-penalised Cox PH beside the published Mayo risk score.

Candidates are feature sets (the Mayo five first, then with histologic stage, urine copper and
AST, then a wide set) crossed with a ridge-penalty grid, compared by the cross-validated
partial likelihood. The 5-year death probability uses the Breslow baseline survival of the
refitted model; the Mayo score is computed on the same rows as the baseline for the C-index.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from inference.risk.learned.datasets import FORMATS, TaskSpec, cohort_read, outcome_encode
from inference.risk.learned.errors import TrainingDataInvalid
from inference.risk.learned.features import PBC_FEATURE_SETS, feature_specs_fit, features_encode
from inference.risk.learned.predictor import risk_predict
from inference.training.risk.evaluation import evaluate_survival
from inference.training.risk.mayo import DAYS_PER_YEAR, EDEMA_SCORE, mayo_from_pbc_values
from inference.training.risk.payload import (
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
from inference.training.risk.survival import (
    breslow_baseline_survival,
    cox_fit,
    cox_log_partial_likelihood,
    harrell_c_index,
    kaplan_meier,
)

COX_PENALTY_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# a candidate within this distance (per validation event) of the best counts as equally good
TOLERANCE = {"cv_partial_likelihood": 0.002}
HORIZON_DAYS = 5 * DAYS_PER_YEAR


def _mayo_medians(values: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Training medians of the Mayo inputs, in the score's units (age in years)."""
    edema = np.array([np.nan if v is None else EDEMA_SCORE[str(v)] for v in values["Edema"]])
    return {
        "Bilirubin": float(np.nanmedian(values["Bilirubin"])),
        "Albumin": float(np.nanmedian(values["Albumin"])),
        "Age": float(np.nanmedian(values["Age"])) / DAYS_PER_YEAR,
        "Prothrombin": float(np.nanmedian(values["Prothrombin"])),
        "Edema": float(np.nanmedian(edema)),
    }


def survival_train(
    task: TaskSpec, data_path: Path, *, seed: int, version: str, created_with: str
) -> dict[str, Any]:
    fmt = FORMATS[task.format_key]
    columns = columns_of([d for defs in PBC_FEATURE_SETS.values() for d in defs])
    cohort = cohort_read(fmt, data_path, columns=columns, require_outcome=True)
    event = outcome_encode(task, cohort).astype(bool)
    if cohort.time is None or np.isnan(cohort.time).any() or (cohort.time <= 0).any():
        raise TrainingDataInvalid(f"{task.key}: follow-up time missing or not positive")
    time = cohort.time
    raw = cohort.raw_labels or []
    groups = duplicate_groups(cohort.values, extra=[f"{r}|{t}" for r, t in zip(raw, time, strict=True)])
    train, test = holdout_split(raw, groups, seed=seed)
    values_tr, t_tr, e_tr = values_subset(cohort.values, train), time[train], event[train]
    folds = cv_folds([raw[i] for i in train], groups[train], seed=seed)

    candidates: list[CandidateScore] = []
    mayo_cv: list[float] = []
    for _, tr, va in folds:
        fold_tr, fold_va = values_subset(values_tr, tr), values_subset(values_tr, va)
        mayo_va, _ = mayo_from_pbc_values(fold_va, _mayo_medians(fold_tr))
        mayo_cv.append(harrell_c_index(t_tr[va], e_tr[va], mayo_va))
    for set_name, defs in PBC_FEATURE_SETS.items():
        # every training row encoded with each fold's constants: the CV partial likelihood
        # of Verweij & van Houwelingen (Stat Med 1993;12:2305) needs the whole training part
        encoded = [
            features_encode(feature_specs_fit(defs, values_subset(values_tr, tr)), values_tr).z
            for _, tr, _ in folds
        ]
        for penalty in COX_PENALTY_GRID:
            cand = CandidateScore(
                f"Cox {set_name} ridge={penalty:g}",
                {"family": "cox_ph", "feature_set": set_name, "penalty": penalty},
                (float(len(defs)), -penalty),
            )
            for (_, tr, va), z_all in zip(folds, encoded, strict=True):
                fit = cox_fit(t_tr[tr], e_tr[tr], z_all[tr], penalty=penalty)
                cvl = cox_log_partial_likelihood(t_tr, e_tr, z_all, fit.coef) - cox_log_partial_likelihood(
                    t_tr[tr], e_tr[tr], z_all[tr], fit.coef
                )
                cand.fold_scores.append(cvl / max(int(e_tr[va].sum()), 1))
                cand.extra_scores.setdefault("c_index", []).append(
                    harrell_c_index(t_tr[va], e_tr[va], z_all[va] @ fit.coef)
                )
            candidates.append(cand)
    selected = candidate_select(
        candidates, higher_is_better=True, tolerance=TOLERANCE["cv_partial_likelihood"]
    )
    defs = PBC_FEATURE_SETS[str(selected.params["feature_set"])]
    penalty = float(selected.params["penalty"])

    specs = feature_specs_fit(defs, values_tr)
    z_tr = features_encode(specs, values_tr).z
    fit = cox_fit(t_tr, e_tr, z_tr, penalty=penalty)
    if not fit.converged:
        raise TrainingDataInvalid(f"{task.key}: Cox fit did not converge")
    s0 = breslow_baseline_survival(t_tr, e_tr, z_tr @ fit.coef, HORIZON_DAYS)

    payload = base_payload(task, fmt, cohort, version=version, created_with=created_with, family="cox_ph")
    payload |= {
        "input": input_block(fmt, columns_of(defs)),
        "features": [s.to_json() for s in specs],
        "model": {
            "coef": fit.coef.tolist(),
            "penalty": penalty,
            "penalty_form": "l(beta)/n - penalty/2 * ||beta||^2 on standardised features",
            "ties": "Breslow",
            "baseline_survival": {
                "horizon_days": HORIZON_DAYS,
                "value": s0,
                "estimator": "Breslow, for linear predictor 0 (an average training patient)",
            },
            "event_probability_name": "p_death_5y",
        },
    }
    preds = risk_predict(artefact_preview(payload), values_subset(cohort.values, test))
    mayo_te, mayo_imputed = mayo_from_pbc_values(values_subset(cohort.values, test), _mayo_medians(values_tr))
    holdout = evaluate_survival(
        time[test],
        event[test],
        preds.values[:, 0],
        preds.values[:, 1],
        mayo_te,
        horizon=HORIZON_DAYS,
        train_km_risk=1.0 - kaplan_meier(t_tr, e_tr, HORIZON_DAYS),
        seed=seed,
    )
    holdout["mayo_rows_with_imputed_input"] = int(mayo_imputed.sum())
    payload["training"] = {
        "seed": seed,
        "holdout_fraction": HOLDOUT_FRACTION,
        "holdout_stratified_by": "Status (C / CL / D)",
        "n_train": len(train),
        "n_holdout": len(test),
        "train_events": int(e_tr.sum()),
        "holdout_rows": holdout_ids(cohort, test),
        "cv": {
            "splits": 5,
            "repeats": 3,
            "stratified_by": "Status (C / CL / D)",
            "grouped_by": "exact duplicate rows",
            "selection_metric": "cv_partial_likelihood",
            "selection_rule": (
                "best mean cross-validated partial log-likelihood per validation event (Verweij & "
                "van Houwelingen 1993), a proper criterion that also sets the amount of shrinkage; "
                f"among candidates within {TOLERANCE['cv_partial_likelihood']} of it, the simplest "
                "(fewest features, then strongest ridge penalty)"
            ),
            "candidates": [c.to_json() for c in candidates],
            "selected": selected.name,
            "mayo_baseline_cv_c_index": {
                "mean": float(np.mean(mayo_cv)),
                "se": float(np.std(mayo_cv, ddof=1) / np.sqrt(len(mayo_cv))),
                "n_folds": len(mayo_cv),
            },
            "converged": fit.converged,
        },
    }
    payload["mayo_baseline"] = {
        "formula": (
            "R = 0.871 ln(bilirubin mg/dL) - 2.53 ln(albumin g/dL) + 0.039 age(years) "
            "+ 2.38 ln(prothrombin time s) + 0.859 edema (0 / 0.5 / 1)"
        ),
        "citation": "Dickson ER et al. Hepatology 1989;10:1-7",
        "missing_inputs": "training-part medians (age in years), flagged; the count is in metrics",
    }
    payload["metrics"] = {
        "holdout": holdout,
        "target": target_block(task.key, holdout["c_index"]["estimate"]),
    }
    return payload

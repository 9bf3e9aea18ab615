"""Held-out evaluation bundles (JSON-ready dicts) for the three kinds of task.

Intervals are percentile bootstraps over held-out rows (2000 resamples, seeded). The
held-out split is small (about 80 to 115 rows), so intervals are wide; they are reported as is.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.training.risk import metrics as m
from inference.training.risk.survival import censoring_survival, cox_fit, harrell_c_index, kaplan_meier

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

N_BOOT = 2000


def _interval(iv: m.Interval) -> dict[str, Any]:
    def clean(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    return {
        "estimate": clean(iv.estimate),
        "ci95_low": clean(iv.low),
        "ci95_high": clean(iv.high),
        "n_boot_valid": iv.n_resamples,
    }


def _threshold_table(y: IntArray, p: FloatArray, threshold: float) -> dict[str, Any]:
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
    }


def evaluate_binary(
    y: IntArray, p: FloatArray, *, train_prevalence: float, seed: int, n_boot: int = N_BOOT
) -> dict[str, Any]:
    n = len(y)
    recal = m.calibration_slope_intercept(y, p)
    return {
        "n": n,
        "n_positive": int(y.sum()),
        "auroc": _interval(m.bootstrap_ci(lambda i: m.auroc(y[i], p[i]), n, seed=seed, n_boot=n_boot)),
        "brier": _interval(m.bootstrap_ci(lambda i: m.brier_binary(y[i], p[i]), n, seed=seed, n_boot=n_boot)),
        # Brier of always predicting the training prevalence: the no-skill reference
        "brier_reference": m.brier_binary(y, np.full(n, train_prevalence)),
        "calibration_slope": recal.slope,
        "calibration_intercept": recal.intercept,
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
        "reliability": [vars(r) for r in m.reliability_table(y, p)],
        "at_threshold_0_5": _threshold_table(y, p, 0.5),
    }


def evaluate_multiclass(
    y: IntArray,
    proba: FloatArray,
    classes: tuple[str, ...],
    *,
    seed: int,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    n, k = proba.shape
    predicted = np.argmax(proba, axis=1)
    per_class: dict[str, Any] = {}
    for c, name in enumerate(classes):
        yc = (y == c).astype(np.int64)
        pc = proba[:, c]
        tp = int(np.sum((predicted == c) & (y == c)))
        n_pred = int(np.sum(predicted == c))
        per_class[name] = {
            "n": int(yc.sum()),
            "auroc_ovr": _interval(
                m.bootstrap_ci(functools.partial(_auroc_at, yc, pc), n, seed=seed, n_boot=n_boot)
            ),
            "brier_ovr": m.brier_binary(yc, pc),
            "mean_predicted": float(pc.mean()),
            "observed_rate": float(yc.mean()),
            "recall_at_argmax": tp / int(yc.sum()) if yc.sum() else None,
            "ppv_at_argmax": tp / n_pred if n_pred else None,
        }
    pooled_y = np.concatenate([(y == c).astype(np.int64) for c in range(k)])
    pooled_p = np.concatenate([proba[:, c] for c in range(k)])
    return {
        "n": n,
        "macro_auroc_ovr": _interval(
            m.bootstrap_ci(lambda i: m.macro_auroc_ovr(y[i], proba[i]), n, seed=seed, n_boot=n_boot)
        ),
        "brier_multiclass": _interval(
            m.bootstrap_ci(lambda i: m.brier_multiclass(y[i], proba[i]), n, seed=seed, n_boot=n_boot)
        ),
        "log_loss": m.log_loss(y, proba),
        "accuracy_at_argmax": float(np.mean(predicted == y)),
        "per_class": per_class,
        "confusion_matrix": {
            "classes": list(classes),
            "rows_true_cols_predicted": m.confusion_matrix(y, predicted, k),
        },
        # one-vs-rest probabilities of all classes pooled: a coarse reliability check
        "reliability_pooled_ovr": [vars(r) for r in m.reliability_table(pooled_y, pooled_p)],
    }


def ipcw_brier(time: FloatArray, event: NDArray[np.bool_], p_event: FloatArray, horizon: float) -> float:
    """Brier score at ``horizon`` with inverse-probability-of-censoring weights (Graf 1999)."""
    died = event & (time <= horizon)
    alive = time > horizon
    g_event = censoring_survival(time, event, time[died])
    g_horizon = censoring_survival(time, event, np.array([np.nextafter(horizon, np.inf)]))[0]
    loss = np.zeros(len(time))
    loss[died] = (1.0 - p_event[died]) ** 2 / g_event
    loss[alive] = p_event[alive] ** 2 / g_horizon
    return float(loss.mean())


def evaluate_survival(
    time: FloatArray,
    event: NDArray[np.bool_],
    risk: FloatArray,
    p_event: FloatArray,
    baseline_risk: FloatArray,
    *,
    horizon: float,
    train_km_risk: float,
    seed: int,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    n = len(time)

    def c_model(i: NDArray[np.intp]) -> float:
        return harrell_c_index(time[i], event[i], risk[i])

    def c_baseline(i: NDArray[np.intp]) -> float:
        return harrell_c_index(time[i], event[i], baseline_risk[i])

    slope_fit = cox_fit(time, event, risk[:, None])
    groups = []
    for g, idx in enumerate(np.array_split(np.argsort(p_event, kind="stable"), 3)):
        groups.append(
            {
                "group": ("low", "middle", "high")[g],
                "n": len(idx),
                "events_by_horizon": int(np.sum(event[idx] & (time[idx] <= horizon))),
                "mean_predicted": float(p_event[idx].mean()),
                "observed_km": 1.0 - kaplan_meier(time[idx], event[idx], horizon),
            }
        )
    return {
        "n": n,
        "n_events": int(event.sum()),
        "c_index": _interval(m.bootstrap_ci(c_model, n, seed=seed, n_boot=n_boot)),
        "mayo_c_index": _interval(m.bootstrap_ci(c_baseline, n, seed=seed, n_boot=n_boot)),
        "c_index_minus_mayo": _interval(
            m.bootstrap_ci(lambda i: c_model(i) - c_baseline(i), n, seed=seed, n_boot=n_boot)
        ),
        "horizon_days": horizon,
        "brier_at_horizon_ipcw": ipcw_brier(time, event, p_event, horizon),
        # constant prediction = training Kaplan-Meier risk at the horizon (no-skill reference)
        "brier_at_horizon_reference": ipcw_brier(time, event, np.full(n, train_km_risk), horizon),
        "calibration_slope_cox": float(slope_fit.coef[0]) if slope_fit.converged else None,
        "observed_km_risk_at_horizon": 1.0 - kaplan_meier(time, event, horizon),
        "mean_predicted_risk_at_horizon": float(p_event.mean()),
        "calibration_by_tertile": groups,
    }


def _auroc_at(y: Any, p: Any, index: Any) -> float:
    """AUROC of one bootstrap resample (a named function, so its type is known)."""
    return float(m.auroc(y[index], p[index]))

"""Discrimination, calibration and bootstrap intervals, in numpy/scipy only.

Implemented here (not via sklearn.metrics) so the exact definitions are on the page:
AUROC is the Mann-Whitney probability with ties counted 1/2; calibration slope and
calibration-in-the-large follow Van Calster et al. (J Clin Epidemiol 2016;74:167).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import expit, logsumexp
from scipy.stats import rankdata

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_EPS = 1e-12


def auroc(y: NDArray[np.int64] | NDArray[np.bool_], score: FloatArray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def macro_auroc_ovr(y: IntArray, proba: FloatArray) -> float:
    """Unweighted mean of one-vs-rest AUROCs; NaN if any class lacks positives or negatives."""
    scores = [auroc(y == k, proba[:, k]) for k in range(proba.shape[1])]
    return float(np.mean(scores))


def brier_binary(y: IntArray, p: FloatArray) -> float:
    return float(np.mean((p - y) ** 2))


def brier_multiclass(y: IntArray, proba: FloatArray) -> float:
    """Mean over rows of sum_k (p_k - 1[y=k])^2 (Brier's original multi-category form)."""
    onehot = np.eye(proba.shape[1])[y]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def log_loss(y: IntArray, proba: FloatArray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], _EPS, 1.0))))


def logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class LogisticFit:
    coef: FloatArray
    converged: bool


def logistic_newton(
    design: FloatArray, y: IntArray, offset: FloatArray | None = None, max_iter: int = 100
) -> LogisticFit:
    """Unpenalised logistic regression by Newton-Raphson for a few (1-2) parameters.

    Under (quasi-)separation the coefficients run away; we then report converged=False
    instead of a meaningless number.
    """
    n, k = design.shape
    off = np.zeros(n) if offset is None else offset
    beta = np.zeros(k)
    for _ in range(max_iter):
        p = expit(design @ beta + off)
        grad = design.T @ (y - p)
        hess = (design * (p * (1 - p))[:, None]).T @ design
        try:
            step = np.linalg.solve(hess + 1e-10 * np.eye(k), grad)
        except np.linalg.LinAlgError:
            return LogisticFit(beta, False)
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e3:
            return LogisticFit(beta, False)
        if np.max(np.abs(step)) < 1e-10:
            return LogisticFit(beta, True)
    return LogisticFit(beta, False)


@dataclass(frozen=True)
class Recalibration:
    """Calibration slope (ideal 1) and calibration-in-the-large intercept (ideal 0)."""

    slope: float | None
    intercept: float | None


def calibration_slope_intercept(y: IntArray, p: FloatArray) -> Recalibration:
    lp = logit(p)
    ones = np.ones((len(y), 1))
    slope_fit = logistic_newton(np.column_stack([np.ones(len(y)), lp]), y)
    citl_fit = logistic_newton(ones, y, offset=lp)
    return Recalibration(
        slope=float(slope_fit.coef[1]) if slope_fit.converged else None,
        intercept=float(citl_fit.coef[0]) if citl_fit.converged else None,
    )


def platt_fit(y: IntArray, score: FloatArray) -> tuple[float, float]:
    """p = sigmoid(a * score + b), fitted on out-of-fold scores (Platt 1999, no label smoothing)."""
    fit = logistic_newton(np.column_stack([score, np.ones(len(y))]), y)
    if not fit.converged:
        # separable out-of-fold scores: fall back to the identity map rather than infinity
        return 1.0, 0.0
    return float(fit.coef[0]), float(fit.coef[1])


def temperature_fit(y: IntArray, logits: FloatArray) -> float:
    """Single temperature T for softmax(logits / T), minimising out-of-fold log loss."""

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        return float(-np.mean(scaled[np.arange(len(y)), y] - logsumexp(scaled, axis=1)))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


@dataclass(frozen=True)
class ReliabilityRow:
    low: float
    high: float
    n: int
    mean_predicted: float | None
    observed: float | None


def reliability_table(
    y: IntArray, p: FloatArray, edges: Sequence[float] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
) -> list[ReliabilityRow]:
    """Observed event rate against mean predicted probability in fixed probability bands."""
    rows: list[ReliabilityRow] = []
    for i, (lo, hi) in enumerate(pairwise(edges)):
        last = i == len(edges) - 2
        mask = (p >= lo) & ((p <= hi) if last else (p < hi))
        n = int(mask.sum())
        rows.append(
            ReliabilityRow(
                low=float(lo),
                high=float(hi),
                n=n,
                mean_predicted=float(p[mask].mean()) if n else None,
                observed=float(y[mask].mean()) if n else None,
            )
        )
    return rows


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n_resamples: int  # resamples where the statistic was defined


def bootstrap_ci(
    statistic: Callable[[NDArray[np.intp]], float],
    n: int,
    *,
    seed: int,
    n_boot: int = 2000,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap over rows; resamples where the statistic is undefined are skipped."""
    rng = np.random.default_rng(seed)
    estimate = statistic(np.arange(n))
    values = []
    for _ in range(n_boot):
        value = statistic(rng.integers(0, n, size=n))
        if np.isfinite(value):
            values.append(value)
    if not values:
        return Interval(estimate, float("nan"), float("nan"), 0)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(values), [alpha, 1.0 - alpha])
    return Interval(float(estimate), float(low), float(high), len(values))


def confusion_matrix(y: IntArray, predicted: IntArray, n_classes: int) -> list[list[int]]:
    """Rows: true class; columns: predicted (argmax) class."""
    out = np.zeros((n_classes, n_classes), dtype=int)
    for t, p in zip(y, predicted, strict=True):
        out[t, p] += 1
    return out.tolist()

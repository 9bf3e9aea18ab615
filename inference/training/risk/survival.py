"""Survival pieces in plain numpy: a ridge-penalised Cox model, Breslow baseline, C-index, KM.

Written here rather than taken from lifelines so the fitted model is a handful of numbers
we fully control (and the runtime needs numpy only). Ties in event times use Breslow's
approximation, as in the Mayo PBC analyses (Dickson 1989 used the Cox model with Breslow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class CoxFit:
    """Coefficients on the design matrix given, plus convergence facts."""

    coef: FloatArray
    penalty: float
    iterations: int
    converged: bool
    log_partial_likelihood: float


def _risk_set_sums(
    time: FloatArray, eta: FloatArray, x: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """Sums over the risk set {j: T_j >= T_i} for every subject, in ascending-time order.

    Returns (order, s0, s1, s2): s0 = sum exp(eta), s1 = sum exp(eta) x, s2 = sum exp(eta) x x^T,
    each evaluated at the *first* index of its tie block so tied subjects share one risk set.
    """
    order = np.argsort(time, kind="stable")
    t_sorted = time[order]
    w = np.exp(eta[order] - eta.max())  # shift for overflow safety; cancels in every ratio
    xs = x[order]
    s0 = np.cumsum(w[::-1])[::-1]
    s1 = np.cumsum((w[:, None] * xs)[::-1], axis=0)[::-1]
    s2 = np.cumsum((w[:, None, None] * xs[:, :, None] * xs[:, None, :])[::-1], axis=0)[::-1]
    first_of_block = np.searchsorted(t_sorted, t_sorted, side="left")
    return s0[first_of_block], s1[first_of_block], s2[first_of_block], order


def cox_log_partial_likelihood(time: FloatArray, event: BoolArray, x: FloatArray, coef: FloatArray) -> float:
    """Breslow log partial likelihood (unpenalised)."""
    eta = x @ coef
    s0, _, _, order = _risk_set_sums(time, eta, x)
    ev = event[order]
    shift = eta.max()
    return float(np.sum(eta[order][ev] - (np.log(s0[ev]) + shift)))


def cox_fit(
    time: FloatArray,
    event: BoolArray,
    x: FloatArray,
    *,
    penalty: float = 0.0,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> CoxFit:
    """Maximise l(beta)/n - penalty/2 * ||beta||^2 by Newton-Raphson with step halving.

    Dividing by n keeps the penalty's meaning stable across training-set sizes (CV folds
    versus the refit), so the value picked in cross-validation transfers to the refit.
    """
    n, p = x.shape
    if n == 0 or not event.any():
        raise ValueError("Cox fit needs at least one event")
    coef = np.zeros(p)

    def objective(b: FloatArray) -> float:
        return cox_log_partial_likelihood(time, event, x, b) / n - 0.5 * penalty * float(b @ b)

    current = objective(coef)
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        eta = x @ coef
        s0, s1, s2, order = _risk_set_sums(time, eta, x)
        ev = event[order]
        xbar = s1[ev] / s0[ev][:, None]
        grad = (x[order][ev] - xbar).sum(axis=0) / n - penalty * coef
        cov = s2[ev] / s0[ev][:, None, None] - xbar[:, :, None] * xbar[:, None, :]
        hess = cov.sum(axis=0) / n + penalty * np.eye(p)
        step = np.linalg.solve(hess + 1e-12 * np.eye(p), grad)
        scale = 1.0
        candidate, value = coef + step, objective(coef + step)
        while value < current and scale > 1e-8:
            scale /= 2.0
            candidate = coef + scale * step
            value = objective(candidate)
        if value < current:
            # no ascent along the Newton direction: we are at the optimum to machine precision
            converged = True
            break
        improvement = value - current
        coef, current = candidate, value
        if improvement < tol and float(np.max(np.abs(scale * step))) < 1e-7:
            converged = True
            break
    return CoxFit(
        coef=coef,
        penalty=penalty,
        iterations=iterations,
        converged=converged,
        log_partial_likelihood=cox_log_partial_likelihood(time, event, x, coef),
    )


def breslow_baseline_survival(time: FloatArray, event: BoolArray, eta: FloatArray, at: float) -> float:
    """Baseline survival S0(at) = exp(-H0(at)) for a subject with linear predictor 0."""
    event_times = np.unique(time[event & (time <= at)])
    cumhaz = 0.0
    for t in event_times:
        deaths = float(np.sum(event & (time == t)))
        at_risk = float(np.sum(np.exp(eta[time >= t])))
        cumhaz += deaths / at_risk
    return float(np.exp(-cumhaz))


def harrell_c_index(time: FloatArray, event: BoolArray, risk: FloatArray) -> float:
    """Harrell's C: P(higher risk dies first) over comparable pairs; risk ties count 1/2.

    A pair (i, j) is comparable when T_i < T_j and i had the event. Pairs tied in time are
    not comparable (the convention of Harrell 1996 and of lifelines' strict ordering).
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    r = np.asarray(risk, dtype=float)
    comparable = e[:, None] & (t[:, None] < t[None, :])
    n_pairs = int(comparable.sum())
    if n_pairs == 0:
        return float("nan")
    concordant = (r[:, None] > r[None, :]) & comparable
    tied = (r[:, None] == r[None, :]) & comparable
    return float((concordant.sum() + 0.5 * tied.sum()) / n_pairs)


def kaplan_meier(time: FloatArray, event: BoolArray, at: float) -> float:
    """Product-limit survival estimate at ``at`` (right-continuous)."""
    surv = 1.0
    for t in np.unique(time[event & (time <= at)]):
        at_risk = float(np.sum(time >= t))
        deaths = float(np.sum(event & (time == t)))
        surv *= 1.0 - deaths / at_risk
    return surv


def censoring_survival(time: FloatArray, event: BoolArray, at: FloatArray) -> FloatArray:
    """G(t-) = P(censoring time >= t) by reverse Kaplan-Meier, for IPCW weights."""
    out = np.empty(len(at))
    for k, a in enumerate(at):
        # left limit: censorings strictly before ``a`` only
        surv = 1.0
        for t in np.unique(time[(~event) & (time < a)]):
            surv *= 1.0 - float(np.sum((~event) & (time == t))) / float(np.sum(time >= t))
        out[k] = surv
    return out

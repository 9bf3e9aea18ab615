"""Metric and survival helpers against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from inference.training.risk import metrics as m
from inference.training.risk.survival import (
    breslow_baseline_survival,
    cox_fit,
    cox_log_partial_likelihood,
    kaplan_meier,
)


def test_auroc_hand_case_with_ties() -> None:
    y = np.array([0, 0, 1, 1])
    # pairs (pos, neg): (0.8,0.1) win, (0.8,0.4) win, (0.4,0.1) win, (0.4,0.4) tie -> 3.5/4
    assert m.auroc(y, np.array([0.1, 0.4, 0.4, 0.8])) == pytest.approx(0.875)
    assert np.isnan(m.auroc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_brier_and_log_loss() -> None:
    assert m.brier_binary(np.array([0, 1]), np.array([0.2, 0.6])) == pytest.approx((0.04 + 0.16) / 2)
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 2])
    assert m.brier_multiclass(y, proba) == pytest.approx(((0.09 + 0.04 + 0.01) + (0.01 + 0.01 + 0.04)) / 2)
    assert m.log_loss(y, proba) == pytest.approx(-(np.log(0.7) + np.log(0.8)) / 2)


def test_calibration_of_perfectly_calibrated_predictions() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, 20000)
    y = (rng.uniform(size=p.size) < p).astype(np.int64)
    recal = m.calibration_slope_intercept(y, p)
    assert recal.slope == pytest.approx(1.0, abs=0.08)
    assert recal.intercept == pytest.approx(0.0, abs=0.05)
    a, b = m.platt_fit(y, m.logit(p))
    assert a == pytest.approx(1.0, abs=0.08) and b == pytest.approx(0.0, abs=0.05)


def test_bootstrap_is_seeded() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    s = np.linspace(0, 1, 10)
    first = m.bootstrap_ci(lambda i: m.auroc(y[i], s[i]), 10, seed=1, n_boot=200)
    second = m.bootstrap_ci(lambda i: m.auroc(y[i], s[i]), 10, seed=1, n_boot=200)
    assert first == second and first.low <= first.estimate <= first.high


def test_kaplan_meier_hand_case() -> None:
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    event = np.array([True, True, False, True, False])
    # t=1: 4/5; t=2: 1 death of 4 at risk -> 4/5*3/4 = 0.6; t=3: 1 of 2 -> 0.3
    assert kaplan_meier(time, event, 2.5) == pytest.approx(0.6)
    assert kaplan_meier(time, event, 3.0) == pytest.approx(0.3)


def test_cox_fit_solves_the_score_equation() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    time = rng.exponential(np.exp(-(0.8 * x[:, 0] - 0.5 * x[:, 1])))
    event = rng.uniform(size=80) < 0.8
    fit = cox_fit(time, event, x)
    assert fit.converged
    eps = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        grad = (
            cox_log_partial_likelihood(time, event, x, fit.coef + step)
            - cox_log_partial_likelihood(time, event, x, fit.coef - step)
        ) / (2 * eps)
        assert abs(grad) < 1e-4
    assert fit.coef[0] > 0 > fit.coef[1]
    # a ridge penalty shrinks toward zero
    assert np.linalg.norm(cox_fit(time, event, x, penalty=1.0).coef) < np.linalg.norm(fit.coef)


def test_breslow_baseline_hand_case() -> None:
    # all linear predictors 0: Breslow H0 is Nelson-Aalen: 1/3 + 1/2 at t=2
    time = np.array([1.0, 2.0, 3.0])
    event = np.array([True, True, False])
    s0 = breslow_baseline_survival(time, event, np.zeros(3), at=2.5)
    assert s0 == pytest.approx(np.exp(-(1 / 3 + 1 / 2)))

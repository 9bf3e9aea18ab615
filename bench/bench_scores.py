"""Benchmark: the full validated score set, batch (numpy columns) against a per-patient loop.

Run: ``.venv/bin/python bench/bench_scores.py [--patients 100000] [--loop-sample 5000]``.

One run each, no warm-up beyond importing. The batch path scores every synthetic patient;
the loop calls the same per-patient functions (``SCORES``) on a random subsample and its rate
is extrapolated to the whole cohort (printed as such). Building the inputs is not timed on
either side: both start from data already in memory (columns for the batch, ``ScoreInputs``
for the loop). The subsample's batch and loop results are compared before timing is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scores_batch import (
    BOOLEANS,
    ENUMS,
    NODULE_NUMBERS,
    BatchColumns,
    BatchScoreResult,
    score_inputs_from_columns,
    scores_evaluate_batch,
)
from inference.risk.scores import SCORES, ScoreInputs

SEED = 20240601


def _lognormal(rng: np.random.Generator, n: int, median: float, sigma: float, missing: float) -> np.ndarray:
    values = median * np.exp(rng.normal(0.0, sigma, n))
    values[rng.random(n) < missing] = np.nan
    return values


def synthetic_cohort(n: int, rng: np.random.Generator) -> BatchColumns:
    """A cohort with realistic lab spreads, 5-10% missing values, tumours and nodules."""
    labs = {
        "alt": _lognormal(rng, n, 35.0, 0.7, 0.05),
        "ast": _lognormal(rng, n, 38.0, 0.7, 0.05),
        "bilirubin_total": _lognormal(rng, n, 18.0, 0.8, 0.05),
        "albumin": np.clip(rng.normal(38.0, 6.0, n), 10.0, 60.0),
        "platelets": _lognormal(rng, n, 180.0, 0.5, 0.05),
        "inr": np.clip(_lognormal(rng, n, 1.15, 0.25, 0.05), 0.7, 10.0),
        "creatinine": _lognormal(rng, n, 85.0, 0.5, 0.05),
        "sodium": np.clip(rng.normal(137.0, 4.0, n), 110.0, 160.0),
        "afp": _lognormal(rng, n, 6.0, 1.5, 0.1),
    }
    labs["albumin"][rng.random(n) < 0.05] = np.nan
    labs["sodium"][rng.random(n) < 0.05] = np.nan
    findings: dict[str, np.ndarray] = {}
    for name, choices in ENUMS.items():
        findings[name] = rng.integers(-1, len(choices), n)
    for name in BOOLEANS:
        findings[name] = rng.integers(-1, 2, n)
    findings["ecog_ps"] = rng.choice([-1, 0, 0, 0, 1, 2, 3], n)
    findings["nodule_count"] = np.where(rng.random(n) < 0.3, rng.integers(1, 8, n), -1)
    findings["ast_upper_limit_normal_u_l"] = np.where(rng.random(n) < 0.5, 40.0, np.nan)
    findings["afp_l3_percent"] = np.where(rng.random(n) < 0.7, rng.uniform(0.0, 30.0, n), np.nan)
    findings["dcp_ng_ml"] = np.where(rng.random(n) < 0.7, _lognormal(rng, n, 2.0, 1.0, 0.0), np.nan)

    tumours_stated = rng.random(n) < 0.4
    tumour_counts = np.where(tumours_stated, rng.integers(1, 6, n), 0)
    tumour_patient = np.repeat(np.arange(n), tumour_counts)
    nodules_stated = rng.random(n) < 0.6
    nodule_counts = np.where(nodules_stated, rng.integers(0, 5, n), 0)
    nodule_patient = np.repeat(np.arange(n), nodule_counts)
    m = nodule_patient.size
    long_axis = np.round(_lognormal(rng, m, 7.0, 0.6, 0.0), 1)
    numbers = {
        "long_axis_mm": long_axis,
        "short_axis_mm": np.round(long_axis * rng.uniform(0.6, 1.0, m), 1),
        "mean_diameter_mm": np.full(m, np.nan),
        "volume_mm3": np.full(m, np.nan),
        "solid_component_mm": np.round(long_axis * rng.uniform(0.1, 0.9, m), 1),
    }
    nodule_type = rng.integers(0, 3, m)
    numbers["solid_component_mm"][nodule_type != 1] = np.nan
    assert set(numbers) == set(NODULE_NUMBERS)
    return BatchColumns(
        n=n,
        age_years=np.where(rng.random(n) < 0.02, np.nan, rng.integers(25, 90, n).astype(np.float64)),
        sex=np.where(rng.random(n) < 0.02, -1, rng.integers(0, 2, n)),
        labs=labs,
        findings=findings,
        tumours_stated=tumours_stated,
        tumour_patient=tumour_patient,
        tumour_diameter_cm=np.round(_lognormal(rng, tumour_patient.size, 2.8, 0.6, 0.0), 1),
        nodules_stated=nodules_stated,
        nodule_patient=nodule_patient,
        nodule_type=nodule_type,
        nodule_status=rng.integers(-1, 3, m),
        nodule_prior_category=rng.integers(-1, 4, m),
        nodule_upper_lobe=rng.integers(0, 2, m),
        nodule_spiculated=rng.integers(0, 2, m),
        nodule_numbers=numbers,
    )


def _mismatches(batch: dict[str, BatchScoreResult], rows: np.ndarray, inputs: list[ScoreInputs]) -> int:
    count = 0
    for row, patient in zip(rows, inputs, strict=True):
        for score_id, fn in SCORES.items():
            result = fn(patient)
            count += (result.computable, result.value, result.category) != batch[score_id].row(int(row))
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--loop-sample", type=int, default=5_000)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    cols = synthetic_cohort(args.patients, rng)
    rows = np.sort(rng.choice(args.patients, size=min(args.loop_sample, args.patients), replace=False))
    inputs = [score_inputs_from_columns(cols, int(row)) for row in rows]

    start = time.perf_counter()
    batch = scores_evaluate_batch(columns=cols)
    batch_s = time.perf_counter() - start

    start = time.perf_counter()
    for patient in inputs:
        for fn in SCORES.values():
            fn(patient)
    loop_s = time.perf_counter() - start

    mismatches = _mismatches(batch, rows, inputs)
    batch_rate = args.patients / batch_s
    loop_rate = len(inputs) / loop_s
    computable = {score_id: int(r.computable.sum()) for score_id, r in batch.items()}
    print(f"scores: {len(SCORES)} ({', '.join(SCORES)})")
    print(f"computable per score in the cohort: {computable}")
    print(f"batch: {args.patients:,} patients in {batch_s:.3f} s = {batch_rate:,.0f} patients/s")
    print(
        f"loop:  {len(inputs):,} patients in {loop_s:.3f} s = {loop_rate:,.0f} patients/s "
        f"(extrapolated to {args.patients:,}: {args.patients / loop_rate:.1f} s)"
    )
    print(f"ratio batch/loop: {batch_rate / loop_rate:.1f}x")
    print(f"batch == loop on the {len(inputs):,}-patient subsample: {mismatches} mismatching scores")
    targets = batch_rate >= 50_000 and batch_rate / loop_rate >= 20 and mismatches == 0
    print(f"targets (>= 50,000 patients/s, >= 20x, identical): {'met' if targets else 'NOT met'}")


if __name__ == "__main__":
    main()

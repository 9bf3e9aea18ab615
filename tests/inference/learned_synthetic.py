"""Synthetic cohorts in the HCV and PBC file formats, for tests that must not read ../shared.

Values are invented (seeded) with roughly plausible ranges; they only need the shape, codes
and missing-value conventions of the real files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HCV_HEADER = [
    "",
    "Category",
    "Age",
    "Sex",
    "ALB",
    "ALP",
    "ALT",
    "AST",
    "BIL",
    "CHE",
    "CHOL",
    "CREA",
    "GGT",
    "PROT",
]
HCV_CATEGORIES = {
    "0": "0=Blood Donor",
    "0s": "0s=suspect Blood Donor",
    "1": "1=Hepatitis",
    "2": "2=Fibrosis",
    "3": "3=Cirrhosis",
}
PBC_HEADER = [
    "ID",
    "N_Days",
    "Status",
    "Drug",
    "Age",
    "Sex",
    "Ascites",
    "Hepatomegaly",
    "Spiders",
    "Edema",
    "Bilirubin",
    "Cholesterol",
    "Albumin",
    "Copper",
    "Alk_Phos",
    "SGOT",
    "Tryglicerides",
    "Platelets",
    "Prothrombin",
    "Stage",
]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def hcv_rows(seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    counts = {"0": 110, "0s": 4, "1": 14, "2": 14, "3": 16}
    # per category: multiplicative shifts of AST, GGT, BIL, CHE, ALB relative to donors
    shift = {
        "0": (1.0, 1.0, 1.0, 1.0, 1.0),
        "0s": (1.4, 1.8, 1.0, 0.8, 0.9),
        "1": (2.0, 2.0, 1.4, 1.0, 1.0),
        "2": (2.8, 2.8, 1.6, 0.95, 0.97),
        "3": (3.5, 3.0, 4.0, 0.45, 0.78),
    }
    rows: list[list[str]] = []
    row_id = 0
    for cat, n in counts.items():
        s_ast, s_ggt, s_bil, s_che, s_alb = shift[cat]
        for _ in range(n):
            row_id += 1
            lab = {
                "ALB": 42 * s_alb * rng.lognormal(0, 0.08),
                "ALP": 66 * rng.lognormal(0, 0.3),
                "ALT": 23 * rng.lognormal(0, 0.4),
                "AST": 25 * s_ast * rng.lognormal(0, 0.25),
                "BIL": 7 * s_bil * rng.lognormal(0, 0.4),
                "CHE": 8.2 * s_che * rng.lognormal(0, 0.15),
                "CHOL": 5.3 * rng.lognormal(0, 0.15),
                "CREA": 77 * rng.lognormal(0, 0.2),
                "GGT": 22 * s_ggt * rng.lognormal(0, 0.5),
                "PROT": 72 * rng.lognormal(0, 0.05),
            }
            values = [_fmt(v) for v in lab.values()]
            if rng.random() < 0.04:
                values[1] = "NA"  # ALP, the most often missing lab in the real file
            rows.append(
                [
                    str(row_id),
                    HCV_CATEGORIES[cat],
                    str(int(rng.integers(25, 70))),
                    rng.choice(["m", "f"]),
                    *values,
                ]
            )
    return rows


def write_hcv_csv(path: Path, rows: list[list[str]], *, with_labels: bool = True) -> Path:
    header = HCV_HEADER if with_labels else [h for h in HCV_HEADER if h != "Category"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row if with_labels else [row[0], *row[2:]])
    return path


def pbc_rows(seed: int = 0, n: int = 140) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    rows: list[list[str]] = []
    for i in range(n):
        bil = float(np.exp(rng.normal(0.3, 0.9)))
        alb = float(np.clip(rng.normal(3.5, 0.4), 2.0, 4.6))
        age_days = float(rng.normal(50, 10) * 365.25)
        pt = float(np.clip(rng.normal(10.7, 0.8), 9.0, 15.0))
        edema = rng.choice(["N", "S", "Y"], p=[0.8, 0.12, 0.08])
        e_score = {"N": 0.0, "S": 0.5, "Y": 1.0}[edema]
        risk = (
            0.871 * np.log(bil)
            - 2.53 * np.log(alb)
            + 0.039 * age_days / 365.25
            + 2.38 * np.log(pt)
            + 0.859 * e_score
        )
        event_time = rng.exponential(4000 * np.exp(-(risk - 5.0)))
        censor_time = rng.uniform(400, 4500)
        time = max(1.0, min(event_time, censor_time))
        censored_as = "CL" if rng.random() < 0.1 else "C"  # CL: transplant, censored like C
        status = "D" if event_time <= censor_time else censored_as
        trial = rng.random() < 0.75
        na = "NA"
        rows.append(
            [
                str(i + 1),
                str(round(time)),
                status,
                rng.choice(["D-penicillamine", "Placebo"]) if trial else na,
                str(round(age_days)),
                rng.choice(["F", "M"], p=[0.9, 0.1]),
                rng.choice(["Y", "N"], p=[0.1, 0.9]) if trial else na,
                rng.choice(["Y", "N"]) if trial else na,
                rng.choice(["Y", "N"], p=[0.3, 0.7]) if trial else na,
                edema,
                _fmt(bil),
                _fmt(float(rng.lognormal(5.8, 0.4))) if trial else na,
                _fmt(alb),
                _fmt(float(rng.lognormal(4.3, 0.8))) if trial else na,
                _fmt(float(rng.lognormal(7.3, 0.7))) if trial else na,
                _fmt(float(rng.lognormal(4.7, 0.4))) if trial else na,
                _fmt(float(rng.lognormal(4.7, 0.4))) if trial else na,
                str(int(rng.integers(80, 500))),
                _fmt(pt),
                str(int(rng.integers(1, 5))),
            ]
        )
    return rows


def write_pbc_csv(path: Path, rows: list[list[str]], *, with_outcome: bool = True) -> Path:
    drop = set() if with_outcome else {"N_Days", "Status"}
    keep = [i for i, h in enumerate(PBC_HEADER) if h not in drop]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([PBC_HEADER[i] for i in keep])
        for row in rows:
            writer.writerow([row[i] for i in keep])
    return path

"""The published Mayo PBC risk score, used as the baseline beside the learned Cox model.

Dickson ER, Grambsch PM, Fleming TR, Fisher LD, Langworthy A. Prognosis in primary biliary
cirrhosis: model for decision making. Hepatology 1989;10:1-7:

    R = 0.871 ln(bilirubin mg/dL) - 2.53 ln(albumin g/dL) + 0.039 age(years)
        + 2.38 ln(prothrombin time s) + 0.859 edema

Edema score: 0 no edema and no diuretic therapy; 0.5 edema without diuretics or resolved by
diuretics; 1 edema despite diuretic therapy. The PBC file codes these N / S / Y.
Only the score (a relative log-hazard) is computed; its survival function is not used here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from inference.risk.learned.errors import InputInvalid

FloatArray = NDArray[np.float64]

COEF_LN_BILIRUBIN = 0.871
COEF_LN_ALBUMIN = -2.53
COEF_AGE_YEARS = 0.039
COEF_LN_PROTHROMBIN = 2.38
COEF_EDEMA = 0.859

EDEMA_SCORE: Mapping[str, float] = {"N": 0.0, "S": 0.5, "Y": 1.0}
DAYS_PER_YEAR = 365.25


def mayo_risk_score(
    *,
    bilirubin_mg_dl: FloatArray | float,
    albumin_g_dl: FloatArray | float,
    age_years: FloatArray | float,
    prothrombin_s: FloatArray | float,
    edema: FloatArray | float,
) -> FloatArray:
    """Vectorised Mayo risk score; every input must be present and positive (NaN in, error)."""
    inputs = {
        "bilirubin_mg_dl": np.asarray(bilirubin_mg_dl, dtype=float),
        "albumin_g_dl": np.asarray(albumin_g_dl, dtype=float),
        "age_years": np.asarray(age_years, dtype=float),
        "prothrombin_s": np.asarray(prothrombin_s, dtype=float),
        "edema": np.asarray(edema, dtype=float),
    }
    for name, arr in inputs.items():
        if np.any(~np.isfinite(arr)):
            raise InputInvalid(f"Mayo score: {name} missing or not finite", detail={"input": name})
    for name in ("bilirubin_mg_dl", "albumin_g_dl", "prothrombin_s"):
        if np.any(inputs[name] <= 0):
            raise InputInvalid(f"Mayo score: {name} must be > 0", detail={"input": name})
    return np.asarray(
        COEF_LN_BILIRUBIN * np.log(inputs["bilirubin_mg_dl"])
        + COEF_LN_ALBUMIN * np.log(inputs["albumin_g_dl"])
        + COEF_AGE_YEARS * inputs["age_years"]
        + COEF_LN_PROTHROMBIN * np.log(inputs["prothrombin_s"])
        + COEF_EDEMA * inputs["edema"],
        dtype=float,
    )


def edema_score(codes: NDArray[np.object_]) -> FloatArray:
    """Map the PBC file's Edema codes (N/S/Y) to Dickson's 0/0.5/1; missing stays NaN."""
    out = np.full(len(codes), np.nan)
    for i, code in enumerate(codes):
        if code is None:
            continue
        if code not in EDEMA_SCORE:
            raise InputInvalid(f"unknown Edema code {code!r}", detail={"row": i + 1})
        out[i] = EDEMA_SCORE[str(code)]
    return out


def mayo_from_pbc_values(
    values: Mapping[str, NDArray[np.float64] | NDArray[np.object_]],
    impute: Mapping[str, float],
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Mayo score for rows in the PBC format; missing inputs take ``impute`` (training medians,
    keyed by column name, in the score's units: age in years, edema as 0/0.5/1).

    Returns the scores and a per-row flag of whether any input was imputed, so a baseline
    comparison never silently drops patients.
    """
    bil = np.asarray(values["Bilirubin"], dtype=float)
    alb = np.asarray(values["Albumin"], dtype=float)
    age = np.asarray(values["Age"], dtype=float) / DAYS_PER_YEAR
    pt = np.asarray(values["Prothrombin"], dtype=float)
    edema = edema_score(np.asarray(values["Edema"], dtype=object))
    columns = {"Bilirubin": bil, "Albumin": alb, "Age": age, "Prothrombin": pt, "Edema": edema}
    any_imputed = np.zeros(len(bil), dtype=bool)
    filled: dict[str, FloatArray] = {}
    for name, arr in columns.items():
        missing = np.isnan(arr)
        any_imputed |= missing
        filled[name] = np.where(missing, impute.get(name, np.nan), arr)
    score = mayo_risk_score(
        bilirubin_mg_dl=filled["Bilirubin"],
        albumin_g_dl=filled["Albumin"],
        age_years=filled["Age"],
        prothrombin_s=filled["Prothrombin"],
        edema=filled["Edema"],
    )
    return score, any_imputed

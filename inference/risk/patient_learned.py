"""Learned cohort models applied to a patient's score inputs, with contributions.

Inputs come from the same snapshot as the validated scores (canonical units), converted here
to each dataset's own units through the units module. A model runs only when most of its
inputs are present; the rest are imputed as its model card says, and listed, never hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patients.units import unit_from_canonical

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts" / "risk"
# (model key, dataset column) -> (LOINC code, unit in the dataset)
_LAB_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "hcv_stage": {"ALB": ("1751-7", "g/L"), "ALP": ("6768-6", "U/L"), "ALT": ("1742-6", "U/L"), "AST": ("1920-8", "U/L"),
                  "BIL": ("1975-2", "umol/L"), "CREA": ("2160-0", "umol/L"), "GGT": ("2324-2", "U/L")},
    "ilpd": {"TB": ("1975-2", "mg/dL"), "Alkphos": ("6768-6", "U/L"), "Sgpt": ("1742-6", "U/L"),
             "Sgot": ("1920-8", "U/L"), "ALB": ("1751-7", "g/dL")},
}
_SEX_COLUMN = {"hcv_stage": ("Sex", {"male": "m", "female": "f"}), "ilpd": ("Gender", {"male": "Male", "female": "Female"})}
# Below this share of lab inputs present, a cohort model says "not applicable" rather than guess.
MIN_LABS_PRESENT = 0.8


def _model_inputs(key: str, body: dict[str, Any]) -> tuple[dict[str, list[object]], list[str]]:
    latest = {o["code"]: o for o in body.get("observations", [])}
    values: dict[str, list[object]] = {"Age": [body["patient"].get("age_years")]}
    sex_column, sex_codes = _SEX_COLUMN[key]
    values[sex_column] = [sex_codes.get(body["patient"].get("sex", ""))]
    missing = []
    for column, (code, unit) in _LAB_COLUMNS[key].items():
        observation = latest.get(code)
        if observation is None:
            values[column] = [None]
            missing.append(column)
        else:
            values[column] = [unit_from_canonical(code=code, value=float(observation["value"]), unit=unit)]
    return values, missing


def patient_learned_evaluate(body: dict[str, Any]) -> list[dict[str, Any]]:
    from inference.risk.learned.artefact import artefact_load
    from inference.risk.learned.predictor import risk_predict, top_contributions

    results = []
    for key in _LAB_COLUMNS:
        values, missing = _model_inputs(key, body)
        present = 1 - len(missing) / len(_LAB_COLUMNS[key])
        artefact = artefact_load(ARTEFACTS, key)
        if present < MIN_LABS_PRESENT or values["Age"][0] is None:
            results.append({"key": key, "version": artefact.version, "weights_sha256": artefact.sha256,
                            "applicable": False, "missing": missing})
            continue
        for feature in artefact.payload["features"]:
            # Inputs our record does not keep (e.g. cholinesterase): imputed by the model, listed.
            values.setdefault(str(feature["column"]), [None])
        predictions = risk_predict(artefact, values)
        target = len(predictions.outputs) - 1 if predictions.values.shape[1] > 1 else 0
        results.append({
            "key": key, "version": artefact.version, "weights_sha256": artefact.sha256, "applicable": True,
            "probabilities": {name: round(float(predictions.values[0, i]), 4) for i, name in enumerate(predictions.outputs)},
            "imputed": list(predictions.imputed[0]),
            "out_of_range": list(predictions.out_of_range[0]),
            "contributions": [{"feature": name, "log_odds": round(value, 4)}
                              for name, value in top_contributions(predictions, 0, target=min(target, predictions.contributions.shape[1] - 1), k=6)],
            "note": "Cohort model (see its model card); contributions are in log-odds against an average training patient.",
        })
    return results

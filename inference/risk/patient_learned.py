"""Learned cohort models applied to a patient's score inputs, with contributions.

Inputs come from the same snapshot as the validated scores (canonical units), converted here
to each dataset's own units through the units module. Each model's ``card.json`` declares the
population it was developed on and its required inputs (``inference.eligibility``): outside
that population (e.g. the HCV models for a patient who is not HCV positive), or when more of
its inputs would be imputed than the card allows, the model ABSTAINS with a stable code and a
reason shown in the report, and is not run. Inputs it may impute are imputed as the card says,
and listed, never hidden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.eligibility import Abstention, inputs_check, population_check
from inference.risk.learned.artefact import artefact_load
from inference.risk.learned.predictor import risk_predict, top_contributions
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


def _model_inputs(key: str, body: dict[str, Any]) -> tuple[dict[str, list[object]], list[str], list[str]]:
    """(values by dataset column, missing lab columns, censored lab columns)."""
    latest = {o["code"]: o for o in body.get("observations", [])}
    values: dict[str, list[object]] = {"Age": [body["patient"].get("age_years")]}
    sex_column, sex_codes = _SEX_COLUMN[key]
    values[sex_column] = [sex_codes.get(body["patient"].get("sex", ""))]
    missing, censored = [], []
    for column, (code, unit) in _LAB_COLUMNS[key].items():
        observation = latest.get(code)
        if observation is None:
            values[column] = [None]
            missing.append(column)
        else:
            values[column] = [unit_from_canonical(code=code, value=float(observation["value"]), unit=unit)]
            if observation.get("comparator"):
                censored.append(f"{column} {observation['comparator']}")
    return values, missing, censored


def _abstained(artefact: Any, abstention: Abstention, *, missing: list[str], imputed: list[str]) -> dict[str, Any]:
    return {
        "key": artefact.key, "version": artefact.version, "weights_sha256": artefact.sha256, "applicable": False,
        "abstention": abstention.as_dict(), "population": (artefact.population or {}).get("description", ""),
        "missing": missing, "imputed": imputed,
    }


def patient_learned_evaluate(body: dict[str, Any], *, facts: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each served cohort model's estimate, or its abstention with the reason.

    ``facts``: what the record states about the patient for the population criteria (age,
    sex, HCV and HBV status, cirrhosis, cholestatic disease); age and sex default to the
    request's patient block.
    """
    facts = {**{k: v for k, v in body.get("patient", {}).items() if v is not None}, **(facts or {})}
    results = []
    for key in _LAB_COLUMNS:
        values, missing, censored = _model_inputs(key, body)
        artefact = artefact_load(ARTEFACTS, key)
        for feature in artefact.payload["features"]:
            # Inputs our record does not keep (e.g. cholinesterase): imputed by the model, listed.
            values.setdefault(str(feature["column"]), [None])
        columns = list(dict.fromkeys(str(feature["column"]) for feature in artefact.payload["features"]))
        imputed = [column for column in columns if values.get(column, [None])[0] is None]
        abstention = population_check(artefact.population, facts) or inputs_check(
            artefact.inputs, present=[c for c in columns if c not in imputed], imputed=imputed, total=len(columns)
        )
        if abstention is not None:
            results.append(_abstained(artefact, abstention, missing=missing, imputed=imputed))
            continue
        predictions = risk_predict(artefact, values)
        target = len(predictions.outputs) - 1 if predictions.values.shape[1] > 1 else 0
        results.append({
            "key": key, "version": artefact.version, "weights_sha256": artefact.sha256, "applicable": True,
            "population": (artefact.population or {}).get("description", ""),
            "censored_inputs": censored,
            "probabilities": {name: round(float(predictions.values[0, i]), 4) for i, name in enumerate(predictions.outputs)},
            "imputed": list(predictions.imputed[0]),
            "out_of_range": list(predictions.out_of_range[0]),
            "contributions": [{"feature": name, "log_odds": round(value, 4)}
                              for name, value in top_contributions(predictions, 0, target=min(target, predictions.contributions.shape[1] - 1), k=6)],
            "note": "Cohort model (see its model card); contributions are in log-odds against an average training patient."
            + (f" Computed with censored input(s) at their reported limit ({', '.join(censored)}): an estimate from a bound."
               if censored else ""),
        })
    return results

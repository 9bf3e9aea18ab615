"""Random per-patient score inputs for the batch == loop tests and the benchmark.

Values are drawn from realistic ranges, with a share placed exactly on published cut-offs
(converted from the unit the cut-off is written in) and a share missing, so that every branch
and every boundary of every score is visited.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inference.risk.scores.types import Findings, LabValue, Nodule, NoduleType, ScoreInputs, Tumour
from patients.units import analyte_by_key

# (low, high) in canonical units, and cut-offs written in canonical units.
LAB_RANGES: dict[str, tuple[float, float, tuple[float, ...]]] = {
    "alt": (5.0, 400.0, ()),
    "ast": (5.0, 400.0, (40.0,)),
    "bilirubin_total": (2.0, 600.0, tuple(v * 17.1 for v in (1.0, 2.0, 3.0, 4.0, 10.0))),
    "albumin": (12.0, 55.0, tuple(v * 10 for v in (1.5, 2.8, 3.5))),
    "platelets": (10.0, 450.0, (100.0, 150.0)),
    "inr": (0.8, 4.0, (1.0, 1.7, 2.3)),
    "creatinine": (30.0, 700.0, tuple(v * 88.4 for v in (1.0, 3.0, 4.0))),
    "sodium": (115.0, 150.0, (125.0, 137.0)),
    "afp": (0.5, 5000.0, (10.0, 20.0)),
}


def _maybe(rng: np.random.Generator, p_missing: float) -> bool:
    return bool(rng.random() >= p_missing)


def _choice(rng: np.random.Generator, options: tuple[Any, ...], p_missing: float = 0.1) -> Any:
    return options[rng.integers(len(options))] if _maybe(rng, p_missing) else None


def _lab(rng: np.random.Generator, key: str) -> float:
    low, high, cuts = LAB_RANGES[key]
    if cuts and rng.random() < 0.15:
        return float(cuts[rng.integers(len(cuts))])
    # Log-uniform: most patients near normal, a tail of extreme values.
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _size(rng: np.random.Generator) -> float:
    if rng.random() < 0.2:
        return float(rng.choice([4.0, 5.5, 6.0, 8.0, 8.5, 15.0, 30.0]))
    return round(float(np.exp(rng.uniform(np.log(2.0), np.log(40.0)))), 1)


def _nodule(rng: np.random.Generator) -> Nodule:
    kind: NoduleType = _choice(rng, ("solid", "part_solid", "non_solid"), 0.0)
    long_axis = _size(rng)
    short_axis = round(long_axis * float(rng.uniform(0.6, 1.0)), 1)
    use_mean = rng.random() < 0.2
    return Nodule(
        type=kind,
        long_axis_mm=long_axis if _maybe(rng, 0.05) else None,
        short_axis_mm=None if use_mean else short_axis,
        mean_diameter_mm=_size(rng) if use_mean else None,
        volume_mm3=float(rng.choice([50.0, 100.0, 113.0, 250.0, 268.0, 2000.0]))
        if rng.random() < 0.2
        else None,
        solid_component_mm=_size(rng) / 2 if kind == "part_solid" and _maybe(rng, 0.1) else None,
        upper_lobe=_choice(rng, (True, False), 0.05),
        spiculated=_choice(rng, (True, False), 0.05),
        status=_choice(rng, ("new", "growing", "stable"), 0.1),
        prior_category=_choice(rng, ("2", "3", "4A", "4B"), 0.3),
    )


def random_inputs(rng: np.random.Generator) -> ScoreInputs:
    labs = {}
    for key in LAB_RANGES:
        if _maybe(rng, 0.08):
            analyte = analyte_by_key(key)
            labs[key] = LabValue(
                key=key, code=analyte.loinc, value=_lab(rng, key), unit=analyte.canonical_unit
            )
    tumours = None
    if _maybe(rng, 0.1):
        tumours = tuple(
            Tumour(diameter_cm=float(rng.choice([1.5, 2.0, 2.5, 3.0, 3.5, 6.0, 11.0])))
            for _ in range(rng.integers(0, 6))
        )
    nodules = None
    if _maybe(rng, 0.1):
        nodules = tuple(_nodule(rng) for _ in range(rng.integers(0, 5)))
    findings = Findings(
        dialysis_twice_past_week=_choice(rng, (True, False), 0.5),
        ascites=_choice(rng, ("none", "slight", "moderate_severe")),
        encephalopathy=_choice(rng, ("none", "grade_1_2", "grade_3_4")),
        cholestatic_disease=_choice(rng, (True, False), 0.5),
        ecog_ps=_choice(rng, (0, 0, 0, 1, 2, 3, 4)),
        liver_tumours=tumours,
        macrovascular_invasion=_choice(rng, (False, False, False, True)),
        extrahepatic_spread=_choice(rng, (False, False, False, True)),
        clinically_significant_portal_hypertension=_choice(rng, (True, False), 0.2),
        bilirubin_normal=_choice(rng, (True, False), 0.2),
        liver_function=_choice(rng, ("preserved", "end_stage"), 0.6),
        child_pugh_class=_choice(rng, ("A", "B", "C"), 0.5),
        transplant_candidate=_choice(rng, (True, False), 0.2),
        bclc_b_pattern=_choice(
            rng,
            (
                "within_extended_lt_criteria",
                "well_defined_nodules_preserved_portal_flow_selective_access",
                "diffuse_infiltrative_extensive_bilobar",
            ),
            0.2,
        ),
        ast_upper_limit_normal_u_l=_choice(rng, (35.0, 40.0, 50.0), 0.5),
        afp_l3_percent=float(rng.uniform(0, 40)) if _maybe(rng, 0.2) else None,
        dcp_ng_ml=float(np.exp(rng.uniform(np.log(0.1), np.log(100)))) if _maybe(rng, 0.2) else None,
        lung_nodules=nodules,
        nodule_count=int(rng.integers(1, 8)) if rng.random() < 0.3 else None,
        lung_screening_exam=_choice(rng, ("baseline", "follow_up")),
        nodule_context=_choice(rng, ("screening", "incidental", "incidental")),
        nodule_patient_risk=_choice(rng, ("low", "high")),
        family_history_lung_cancer=_choice(rng, (True, False), 0.05),
        emphysema=_choice(rng, (True, False), 0.05),
        known_cancer_or_immunosuppressed=_choice(rng, (False, False, False, True), 0.5),
    )
    ages = (float(rng.integers(10, 95)), 12.0, 18.0, 35.0, 65.0, 17.5)
    age = float(_choice(rng, ages, 0.0)) if _maybe(rng, 0.05) else None
    return ScoreInputs(
        age_years=age, sex=_choice(rng, ("male", "female"), 0.05), labs=labs, findings=findings
    )

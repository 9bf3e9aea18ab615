"""Vectorised evaluation of every score over a cohort held as columnar numpy arrays.

Benchmark code, not served: the one implementation of each score is the per-patient function
in ``inference.risk.scores``. This mirrors it formula for formula, in the same order of floating
point operations, so results are identical (``tests/bench/test_scores_batch.py`` checks it on
thousands of random patients); ``bench/bench_scores.py`` compares their speed. Missing values are NaN (numbers) or -1 (codes); a score is
computable for a row exactly when its per-patient function would be.

Nodules and tumours are ragged: one row per nodule (or tumour) with the index of its patient,
sorted by patient. ``*_stated`` says whether the patient's list was given at all (an empty
list and "not stated" differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.risk.errors import UnknownScore
from inference.risk.scores import hcc, liver, lung, meld
from inference.risk.scores.common import SNAP
from inference.risk.scores.types import Findings, LabValue, Nodule, ScoreInputs, Tumour
from patients.units import analyte_by_key

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Bool = NDArray[np.bool_]

LAB_KEYS = ("alt", "ast", "bilirubin_total", "albumin", "platelets", "inr", "creatinine", "sodium", "afp")
SEXES = ("male", "female")
ENUMS: dict[str, tuple[str, ...]] = {
    "ascites": ("none", "slight", "moderate_severe"),
    "encephalopathy": ("none", "grade_1_2", "grade_3_4"),
    "liver_function": ("preserved", "end_stage"),
    "child_pugh_class": ("A", "B", "C"),
    "bclc_b_pattern": (
        "within_extended_lt_criteria",
        "well_defined_nodules_preserved_portal_flow_selective_access",
        "diffuse_infiltrative_extensive_bilobar",
    ),
    "lung_screening_exam": ("baseline", "follow_up"),
    "nodule_context": ("screening", "incidental"),
    "nodule_patient_risk": ("low", "high"),
}
BOOLEANS = (
    "dialysis_twice_past_week",
    "cholestatic_disease",
    "macrovascular_invasion",
    "extrahepatic_spread",
    "clinically_significant_portal_hypertension",
    "bilirubin_normal",
    "transplant_candidate",
    "family_history_lung_cancer",
    "emphysema",
    "known_cancer_or_immunosuppressed",
)
NUMBERS = ("ast_upper_limit_normal_u_l", "afp_l3_percent", "dcp_ng_ml")
INTEGERS = ("ecog_ps", "nodule_count")
NODULE_TYPES = ("solid", "part_solid", "non_solid")
NODULE_STATUSES = ("new", "growing", "stable")
PRIOR_CATEGORIES = ("2", "3", "4A", "4B")
NODULE_NUMBERS = ("long_axis_mm", "short_axis_mm", "mean_diameter_mm", "volume_mm3", "solid_component_mm")
TUMOUR_SOURCES = ("clinician", "imaging")
BCLC_STAGES = ("0", "A", "B", "C", "D")
FLEISCHNER_CATEGORIES = tuple(lung.FLEISCHNER_TEXT)


@dataclass(frozen=True)
class BatchColumns:
    """A cohort as columns. Codes index the tuples above; -1 and NaN mean "not stated"."""

    n: int
    age_years: F64
    sex: I64
    labs: dict[str, F64]
    findings: dict[str, NDArray[Any]]
    tumours_stated: Bool
    tumour_patient: I64
    tumour_diameter_cm: F64
    nodules_stated: Bool
    nodule_patient: I64
    nodule_type: I64
    nodule_status: I64
    nodule_prior_category: I64
    nodule_upper_lobe: I64
    nodule_spiculated: I64
    nodule_numbers: dict[str, F64] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchScoreResult:
    """Per-row outcome of one score. ``category`` indexes ``labels`` (-1: none).

    ``value`` is NaN where not computable and for scores whose value is their category
    (BCLC, Lung-RADS, Fleischner). Per-nodule arrays in ``details`` align with the nodule rows.
    """

    computable: Bool
    value: F64
    category: I64
    labels: tuple[str, ...]
    details: dict[str, NDArray[Any]]
    integer: bool = False

    def category_at(self, row: int) -> str | None:
        code = int(self.category[row])
        return None if code < 0 else self.labels[code]

    def row(self, row: int) -> tuple[bool, int | float | str | None, str | None]:
        """(computable, value, category) as the per-patient ``ScoreResult`` would give them."""
        if not self.computable[row]:
            return False, None, None
        category = self.category_at(row)
        value = float(self.value[row])
        if np.isnan(value):
            return True, category, category  # the category is the value (BCLC, Lung-RADS, ...)
        return True, int(value) if value.is_integer() and self.integer else value, category


# -- helpers mirroring common.py with the same IEEE operations ---------------------------------


def _snap(x: F64) -> F64:
    return np.floor(x * SNAP + 0.5) / SNAP


def _round(x: F64, digits: int = 0) -> F64:
    scale = 10.0**digits
    return np.copysign(np.floor(np.abs(x) * scale + 0.5), x) / scale


def _lab(cols: BatchColumns, key: str, unit: str) -> F64:
    analyte = analyte_by_key(key)
    spec = analyte.unit_spec(unit)
    if spec is None:
        raise ValueError(f"{unit} is not a unit of {key}")
    canonical = cols.labs.get(key)
    if canonical is None:
        return np.full(cols.n, np.nan)
    return _snap((canonical - spec.offset) / spec.factor)


def _code(cols: BatchColumns, name: str) -> I64:
    return cols.findings[name]


def _has(x: F64) -> Bool:
    return ~np.isnan(x)


def _segment_max(values: NDArray[Any], patient: I64, n: int, initial: float) -> NDArray[Any]:
    """Per-patient maximum of row values (rows sorted by patient), ``initial`` where none."""
    out = np.full(n, initial, dtype=np.result_type(values.dtype, np.asarray(initial).dtype))
    if values.size:
        counts = np.bincount(patient, minlength=n)
        starts = np.cumsum(counts) - counts
        nonempty = counts > 0
        out[nonempty] = np.maximum(np.maximum.reduceat(values, starts[nonempty]), initial)
    return out


def _segment_count(patient: I64, n: int) -> I64:
    return np.bincount(patient, minlength=n).astype(np.int64)


def _result(
    computable: Bool,
    value: F64 | None,
    category: I64 | None,
    labels: tuple[str, ...],
    details: dict[str, NDArray[Any]],
    *,
    integer: bool = False,
) -> BatchScoreResult:
    n = computable.shape[0]
    value_out = np.where(computable, value, np.nan) if value is not None else np.full(n, np.nan)
    category_out = np.where(computable, category, -1) if category is not None else np.full(n, -1, np.int64)
    return BatchScoreResult(
        computable, value_out, category_out.astype(np.int64), labels, details, integer=integer
    )


# -- scores ---------------------------------------------------------------------------------


def _meld_common(cols: BatchColumns, cap: float) -> tuple[Bool, F64, F64, F64, Bool]:
    bili = _lab(cols, "bilirubin_total", "mg/dL")
    inr = _lab(cols, "inr", "{INR}")
    creatinine = _lab(cols, "creatinine", "mg/dL")
    dialysis = _code(cols, "dialysis_twice_past_week") == 1
    creatinine_used = np.where(dialysis, cap, np.minimum(np.maximum(creatinine, meld.LAB_FLOOR), cap))
    labs_ok = _has(bili) & _has(inr) & (dialysis | _has(creatinine))
    adult_enough = ~(cols.age_years < meld.MINIMUM_AGE)
    return (
        labs_ok & adult_enough,
        np.maximum(bili, meld.LAB_FLOOR),
        np.maximum(inr, meld.LAB_FLOOR),
        creatinine_used,
        adult_enough,
    )


def _meld_i(bili: F64, inr: F64, creatinine: F64) -> tuple[F64, F64]:
    raw = 0.957 * np.log(creatinine) + 0.378 * np.log(bili) + 1.120 * np.log(inr) + 0.643
    return np.floor(raw * 10.0 + 0.5), raw * 10.0


def _batch_meld(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    ok, bili, inr, creatinine, _adult = _meld_common(cols, meld.CREATININE_CAP)
    meld_i, unrounded = _meld_i(bili, inr, creatinine)
    value = np.clip(meld_i, meld.RESULT_LOW, meld.RESULT_HIGH)
    return _result(ok, value, None, (), {"unrounded": unrounded, "meld_i": meld_i}, integer=True)


def _batch_meld_na(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    ok, bili, inr, creatinine, _adult = _meld_common(cols, meld.CREATININE_CAP)
    sodium = _lab(cols, "sodium", "mmol/L")
    ok = ok & _has(sodium)
    sodium = np.clip(sodium, meld.SODIUM_LOW, meld.SODIUM_HIGH)
    meld_i, _raw = _meld_i(bili, inr, creatinine)
    raw = meld_i + 1.32 * (137.0 - sodium) - 0.033 * meld_i * (137.0 - sodium)
    applied = meld_i > meld.SODIUM_TERM_ABOVE
    value = np.where(
        applied,
        np.clip(_round(raw), meld.RESULT_LOW, meld.RESULT_HIGH),
        np.clip(meld_i, meld.RESULT_LOW, meld.RESULT_HIGH),
    )
    details = {"unrounded": np.where(applied, raw, meld_i), "meld_i": meld_i, "sodium_term_applied": applied}
    return _result(ok, value, None, (), details, integer=True)


def _batch_meld_3(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    ok, bili, inr, creatinine, _adult = _meld_common(cols, meld.CREATININE_CAP_MELD_3)
    sodium = _lab(cols, "sodium", "mmol/L")
    albumin = _lab(cols, "albumin", "g/dL")
    age = cols.age_years
    adult = age >= meld.ADULT_AGE
    sex_ok = ~adult | (cols.sex >= 0)
    ok = ok & _has(age) & sex_ok & _has(sodium) & _has(albumin)
    sodium = np.clip(sodium, meld.SODIUM_LOW, meld.SODIUM_HIGH)
    albumin = np.clip(albumin, meld.ALBUMIN_LOW, meld.ALBUMIN_HIGH)
    female_term = np.where((age < meld.ADULT_AGE) | (cols.sex == 1), 1.33, 0.0)
    ln_bili = np.log(bili)
    ln_cr = np.log(creatinine)
    raw = (
        female_term
        + 4.56 * ln_bili
        + 0.82 * (137.0 - sodium)
        - 0.24 * (137.0 - sodium) * ln_bili
        + 9.09 * np.log(inr)
        + 11.14 * ln_cr
        + 1.85 * (3.5 - albumin)
        - 1.83 * (3.5 - albumin) * ln_cr
        + 6.0
    )
    value = np.clip(_round(raw), meld.RESULT_LOW, meld.RESULT_HIGH)
    return _result(ok, value, None, (), {"unrounded": raw}, integer=True)


def _points_rising(x: F64, low: F64 | float, high: F64 | float) -> I64:
    return np.where(x < low, 1, np.where(x <= high, 2, 3))


def _batch_child_pugh(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    bili = _lab(cols, "bilirubin_total", "mg/dL")
    albumin = _lab(cols, "albumin", "g/dL")
    inr = _lab(cols, "inr", "{INR}")
    ascites = _code(cols, "ascites")
    enceph = _code(cols, "encephalopathy")
    cholestatic = _code(cols, "cholestatic_disease") == 1
    ok = _has(bili) & _has(albumin) & _has(inr) & (ascites >= 0) & (enceph >= 0)
    low = np.where(cholestatic, liver.BILIRUBIN_CHOLESTATIC[0], liver.BILIRUBIN_STANDARD[0])
    high = np.where(cholestatic, liver.BILIRUBIN_CHOLESTATIC[1], liver.BILIRUBIN_STANDARD[1])
    alb_high, alb_low = liver.ALBUMIN_BANDS
    points = {
        "bilirubin": _points_rising(bili, low, high),
        "albumin": np.where(albumin > alb_high, 1, np.where(albumin >= alb_low, 2, 3)),
        "inr": _points_rising(inr, *liver.INR_BANDS),
        "ascites": ascites + 1,
        "encephalopathy": enceph + 1,
    }
    total = sum(points.values(), np.zeros(cols.n, np.int64))
    category = np.where(total <= 6, 0, np.where(total <= 9, 1, 2))
    details = {f"points_{name}": p for name, p in points.items()}
    return _result(ok, total.astype(np.float64), category, ("A", "B", "C"), details, integer=True)


def _albi_raw(bili_umol: F64, albumin_g_l: F64) -> F64:
    return 0.66 * np.log10(bili_umol) - 0.085 * albumin_g_l


def _batch_albi(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    bili = _lab(cols, "bilirubin_total", "umol/L")
    albumin = _lab(cols, "albumin", "g/L")
    raw = _albi_raw(bili, albumin)
    value = _round(raw, 2)
    grade = np.where(value <= liver.ALBI_GRADE_1_MAX, 0, np.where(value <= liver.ALBI_GRADE_2_MAX, 1, 2))
    return _result(_has(bili) & _has(albumin), value, grade, ("1", "2", "3"), {"unrounded": raw})


def _batch_fib4(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    age = cols.age_years
    ast = _lab(cols, "ast", "U/L")
    alt = _lab(cols, "alt", "U/L")
    platelets = _lab(cols, "platelets", "10*9/L")
    raw = age * ast / (platelets * np.sqrt(alt))
    value = _round(raw, 2)
    low = np.where(age >= liver.FIB4_OLDER_AGE, liver.FIB4_LOW_AGE_65, liver.FIB4_LOW)
    category = np.where(value < low, 0, np.where(value > liver.FIB4_HIGH, 2, 1))
    ok = _has(age) & _has(ast) & _has(alt) & _has(platelets)
    return _result(ok, value, category, ("low", "indeterminate", "high"), {"unrounded": raw})


def _bands(value: F64, bands: tuple[float, float]) -> I64:
    low, high = bands
    return np.where(value <= low, 0, np.where(value > high, 2, 1))


APRI_BANDS = ("unlikely", "indeterminate", "likely")


def _batch_apri(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    ast = _lab(cols, "ast", "U/L")
    platelets = _lab(cols, "platelets", "10*9/L")
    stated = cols.findings["ast_upper_limit_normal_u_l"]
    uln = np.where(_has(stated), stated, liver.APRI_DEFAULT_AST_ULN)
    raw = (ast / uln) / platelets * 100.0
    value = _round(raw, 2)
    details = {
        "unrounded": raw,
        "significant_fibrosis": _bands(value, liver.APRI_FIBROSIS),
        "cirrhosis": _bands(value, liver.APRI_CIRRHOSIS),
    }
    return _result(_has(ast) & _has(platelets), value, None, (), details)


def _batch_amap(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    age = cols.age_years
    bili = _lab(cols, "bilirubin_total", "umol/L")
    albumin = _lab(cols, "albumin", "g/L")
    platelets = _lab(cols, "platelets", "10*9/L")
    male = np.where(cols.sex == 0, 1.0, 0.0)
    linear = 0.06 * age + 0.89 * male + 0.48 * _albi_raw(bili, albumin) - 0.01 * platelets
    raw = (linear + 7.4) / 14.77 * 100.0
    value = _round(np.clip(raw, 0.0, 100.0), 2)
    category = np.where(value < hcc.AMAP_LOW_BELOW, 0, np.where(value > hcc.AMAP_HIGH_ABOVE, 2, 1))
    ok = _has(age) & (cols.sex >= 0) & _has(bili) & _has(albumin) & _has(platelets)
    return _result(ok, value, category, ("low", "medium", "high"), {"unrounded": raw})


def _logistic(z: F64) -> F64:
    with np.errstate(over="ignore"):
        negative = np.exp(z) / (1.0 + np.exp(z))
        positive = 1.0 / (1.0 + np.exp(-z))
    return np.where(z < 0, negative, positive)


def _batch_galad(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    age = cols.age_years
    afp = _lab(cols, "afp", "ng/mL")
    l3 = cols.findings["afp_l3_percent"]
    dcp = cols.findings["dcp_ng_ml"]
    male = np.where(cols.sex == 0, 1.0, 0.0)
    z = -10.08 + 0.09 * age + 1.67 * male + 2.34 * np.log10(afp) + 0.04 * l3 + 1.33 * np.log10(dcp)
    value = _round(z, 2)
    category = np.where(value >= hcc.GALAD_CUTOFF, 0, 1)
    ok = _has(age) & (cols.sex >= 0) & _has(afp) & _has(l3) & _has(dcp)
    details = {"unrounded": z, "probability": _logistic(z)}
    return _result(ok, value, category, ("positive", "negative"), details)


def _bit(name: str) -> int:
    return 1 << hcc.TREATMENTS.index(name)


def _bits(names: Sequence[str]) -> int:
    return sum(_bit(name) for name in names)


SYSTEMIC_BITS = _bits([*hcc.SYSTEMIC_FIRST_LINE, *hcc.SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE])


def treatments_from_bits(bits: int) -> list[str]:
    return [name for index, name in enumerate(hcc.TREATMENTS) if bits & (1 << index)]


def _batch_bclc(cols: BatchColumns, done: dict[str, BatchScoreResult]) -> BatchScoreResult:
    n = cols.n
    count = _segment_count(cols.tumour_patient, n)
    largest = _segment_max(cols.tumour_diameter_cm, cols.tumour_patient, n, -np.inf)
    over_3 = _segment_max(
        (cols.tumour_diameter_cm > hcc.EARLY_NODULE_MAX_CM).astype(np.int64), cols.tumour_patient, n, 0
    )
    ecog = _code(cols, "ecog_ps")
    mvi = _code(cols, "macrovascular_invasion")
    ehs = _code(cols, "extrahepatic_spread")
    # Liver function: stated, else computed Child-Pugh, else the stated Child-Pugh class.
    cp = done.get("child_pugh") or _batch_child_pugh(cols, done)
    cp_class = np.where(cp.computable, cp.category, _code(cols, "child_pugh_class"))
    from_class = np.where(cp_class == 0, 0, np.where(cp_class == 2, 1, -1))
    stated = _code(cols, "liver_function")
    function = np.where(stated >= 0, stated, from_class)
    ok = cols.tumours_stated & (count > 0) & (ecog >= 0) & (mvi >= 0) & (ehs >= 0) & (function >= 0)
    stage = np.select(
        [
            (function == 1) | (ecog > 2),
            (mvi == 1) | (ehs == 1) | (ecog >= 1),
            (count == 1) & (largest <= hcc.VERY_EARLY_MAX_CM),
            (count == 1) | ((count <= hcc.EARLY_MAX_NODULES) & (over_3 == 0)),
        ],
        [4, 3, 0, 1],
        default=2,
    )
    candidate = _code(cols, "transplant_candidate")
    pattern = _code(cols, "bclc_b_pattern")
    csph = _code(cols, "clinically_significant_portal_hypertension")
    bili_normal = _code(cols, "bilirubin_normal")
    early = stage <= 1
    portal_ok = (count == 1) & (csph == 0) & (bili_normal == 1)
    portal_bad = (csph == 1) | (bili_normal == 0)
    to_lt_branch = early & ((count > 1) | portal_bad)
    lt_branch = np.where(
        candidate == 1, _bit("liver_transplantation"), np.where(candidate == 0, _bit("ablation"), 0)
    )
    b_bits = np.select(
        [pattern == 0, pattern == 1, pattern == 2],
        [np.where(candidate == 0, _bit("tace"), _bit("liver_transplantation")), _bit("tace"), SYSTEMIC_BITS],
        default=0,
    )
    treatments = np.select(
        [stage == 4, stage == 3, stage == 2, early & portal_ok, to_lt_branch],
        [_bit("best_supportive_care"), SYSTEMIC_BITS, b_bits, _bit("resection"), lt_branch],
        default=0,
    )
    details = {"treatments": treatments, "tumour_count": count, "largest_tumour_cm": largest}
    return _result(ok, None, stage, BCLC_STAGES, details)


def _nodule_size(cols: BatchColumns, digits: int) -> tuple[F64, F64]:
    """Each nodule's diameter (the stated mean, else the mean of its axes) rounded as the score
    rounds it, and its volume."""
    nums = cols.nodule_numbers
    mean, axes = nums["mean_diameter_mm"], (nums["long_axis_mm"] + nums["short_axis_mm"]) / 2.0
    return np.where(_has(mean), _round(mean, digits), _round(axes, digits)), nums["volume_mm3"]


def _lr_below(diameter: F64, volume: F64, mm: float) -> Bool:
    return np.where(_has(diameter), diameter < mm, volume < lung.LR_VOLUME_FOR_MM[mm])


def _batch_lung_rads(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    n = cols.n
    p = cols.nodule_patient
    diameter, volume = _nodule_size(cols, 1)
    has_size = _has(diameter) | _has(volume)
    exam = _code(cols, "lung_screening_exam")[p]
    # Internal status: 0 baseline, 1 new, 2 growing, 3 stable, -1 missing.
    status = np.where(exam == 0, 0, np.where(cols.nodule_status >= 0, cols.nodule_status + 1, -1))

    def below(mm: float) -> Bool:
        return _lr_below(diameter, volume, mm)

    b4, b6, b8, b15, b30 = below(4.0), below(6.0), below(8.0), below(15.0), below(30.0)
    component = _round(cols.nodule_numbers["solid_component_mm"], 1)
    c4, c6, c8 = component < 4.0, component < 6.0, component < 8.0
    non_solid = np.where(~b30 & (status <= 1), 2, 1)
    solid = np.select(
        [status == 0, status == 1, status == 2, b6],
        [
            np.where(b6, 1, np.where(b8, 2, np.where(b15, 3, 4))),
            np.where(b4, 1, np.where(b6, 2, np.where(b8, 3, 4))),
            np.where(b8, 3, 4),
            1,
        ],
        default=-2,  # stable and >= 6 mm: stepped management below
    )
    needs_component = (status != 3) & ~(((status == 0) | (status == 1)) & b6)
    part_solid = np.select(
        [((status == 0) | (status == 3)) & b6, (status == 1) & b6, needs_component & ~_has(component)],
        [1, 2, -1],
        default=np.where(
            status == 3, -2, np.where(status == 0, np.where(c6, 2, np.where(c8, 3, 4)), np.where(c4, 3, 4))
        ),
    )
    category = np.select(
        [cols.nodule_type == 2, cols.nodule_type == 0], [non_solid, solid], default=part_solid
    )
    stepped = np.array([1, 1, 2, 4])[np.maximum(cols.nodule_prior_category, 0)]
    category = np.where(category == -2, np.where(cols.nodule_prior_category >= 0, stepped, -1), category)
    category = np.where(has_size & (status >= 0), category, -1)
    unclassified = _segment_max((category < 0).astype(np.int64), p, n, 0)
    overall = _segment_max(np.where(category < 0, 0, category), p, n, 0)
    context = _code(cols, "nodule_context")
    ok = (
        cols.nodules_stated & (_code(cols, "lung_screening_exam") >= 0) & (context != 1) & (unclassified == 0)
    )
    return _result(ok, None, overall, lung.LUNG_RADS_ORDER, {"nodule_category": category})


def _batch_brock(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    n = cols.n
    p = cols.nodule_patient
    size = cols.nodule_numbers["long_axis_mm"]
    upper, spiculated = cols.nodule_upper_lobe, cols.nodule_spiculated
    listed = _segment_count(p, n)
    stated_count = _code(cols, "nodule_count")
    count = np.where(stated_count >= 0, stated_count, listed).astype(np.float64)
    age = cols.age_years[p]
    type_coef = np.array([lung.BROCK_TYPE[t] for t in NODULE_TYPES])[cols.nodule_type]
    family = _code(cols, "family_history_lung_cancer")
    emphysema = _code(cols, "emphysema")
    logit = (
        lung.BROCK_INTERCEPT
        + lung.BROCK_AGE * (age - 62.0)
        + np.where(cols.sex[p] == 1, lung.BROCK_FEMALE, 0.0)
        + np.where(family[p] == 1, lung.BROCK_FAMILY_HISTORY, 0.0)
        + np.where(emphysema[p] == 1, lung.BROCK_EMPHYSEMA, 0.0)
        + lung.BROCK_SIZE * (1.0 / np.sqrt(size / 10.0) - lung.BROCK_SIZE_CENTRE)
        + type_coef
        + np.where(upper == 1, lung.BROCK_UPPER_LOBE, 0.0)
        + lung.BROCK_COUNT * (count[p] - 4)
        + np.where(spiculated == 1, lung.BROCK_SPICULATION, 0.0)
    )
    probability = _logistic(logit)
    rounded = _round(probability, 4)
    nodule_ok = _has(size) & (upper >= 0) & (spiculated >= 0)
    incomplete = _segment_max((~nodule_ok).astype(np.int64), p, n, 0)
    value = _segment_max(rounded, p, n, -np.inf)
    ok = (
        _has(cols.age_years)
        & (cols.sex >= 0)
        & (family >= 0)
        & (emphysema >= 0)
        & cols.nodules_stated
        & (listed > 0)
        & (incomplete == 0)
    )
    details = {"nodule_probability": rounded, "nodule_unrounded": probability}
    return _result(ok, value, None, (), details)


def _batch_fleischner(cols: BatchColumns, _: dict[str, BatchScoreResult]) -> BatchScoreResult:
    n = cols.n
    p = cols.nodule_patient
    size, volume = _nodule_size(cols, 0)
    band = np.where(
        _has(size),
        np.where(size < 6.0, 0, np.where(size <= 8.0, 1, 2)),
        np.where(_has(volume), np.where(volume < 100.0, 0, np.where(volume <= 250.0, 1, 2)), -1),
    )
    is_solid = cols.nodule_type == 0
    listed = _segment_count(p, n)
    unmeasured = _segment_max((band < 0).astype(np.int64), p, n, 0)
    solid_band = _segment_max(np.where(is_solid, band, -1), p, n, -1)
    any_band = _segment_max(band, p, n, -1)
    # The type of the first listed nodule: only read for single-nodule patients.
    first_type = np.full(n, -1, np.int64)
    starts = np.cumsum(listed) - listed
    first_type[listed > 0] = cols.nodule_type[starts[listed > 0]]
    age = cols.age_years
    context = _code(cols, "nodule_context")
    excluded = _code(cols, "known_cancer_or_immunosuppressed") == 1
    risk = _code(cols, "nodule_patient_risk")
    stated_count = _code(cols, "nodule_count")
    multiple = np.maximum(listed, stated_count) > 1
    has_solid = solid_band >= 0
    not_applicable = (context == 0) | excluded | (age < lung.FLEISCHNER_MIN_AGE)
    computable = (
        cols.nodules_stated
        & (listed > 0)
        & (unmeasured == 0)
        & _has(age)
        & (context >= 0)
        & (~has_solid | (risk >= 0))
    )
    codes = {name: index for index, name in enumerate(FLEISCHNER_CATEGORIES)}
    solid_table = np.zeros(n, np.int64)
    for (multi, band_name, risk_name), name in lung.FLEISCHNER_SOLID.items():
        match = (
            (multiple == multi)
            & (solid_band == lung.BAND_RANK[band_name])
            & (risk == ENUMS["nodule_patient_risk"].index(risk_name))
        )
        solid_table = np.where(match, codes[name], solid_table)
    subsolid = np.where(
        multiple,
        np.where(
            any_band == 0,
            codes["ct_3_6_months_then_consider_ct_2_and_4_years"],
            codes["ct_3_6_months_then_manage_by_most_suspicious"],
        ),
        np.where(
            any_band == 0,
            codes["no_routine_followup"],
            np.where(
                first_type == 2,
                codes["ct_6_12_months_then_every_2_years_until_5_years"],
                codes["ct_3_6_months_then_annual_ct_5_years"],
            ),
        ),
    )
    category = np.where(not_applicable, codes["not_applicable"], np.where(has_solid, solid_table, subsolid))
    ok = not_applicable | computable
    return _result(ok, None, category, FLEISCHNER_CATEGORIES, {})


BATCH_KERNELS = {
    "meld": _batch_meld,
    "meld_na": _batch_meld_na,
    "meld_3": _batch_meld_3,
    "child_pugh": _batch_child_pugh,
    "albi": _batch_albi,
    "fib4": _batch_fib4,
    "apri": _batch_apri,
    "amap": _batch_amap,
    "galad": _batch_galad,
    "bclc": _batch_bclc,
    "lung_rads": _batch_lung_rads,
    "brock": _batch_brock,
    "fleischner": _batch_fleischner,
}


def scores_evaluate_batch(
    *, columns: BatchColumns, score_ids: Sequence[str] | None = None
) -> dict[str, BatchScoreResult]:
    """Every requested score for every row of ``columns`` (all scores when ``score_ids`` is None)."""
    wanted = list(score_ids) if score_ids is not None else list(BATCH_KERNELS)
    for score_id in wanted:
        if score_id not in BATCH_KERNELS:
            raise UnknownScore(f"Unknown score {score_id!r}.", detail={"score": score_id})
    done: dict[str, BatchScoreResult] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for score_id in wanted:
            done[score_id] = BATCH_KERNELS[score_id](columns, done)
    return done


# -- conversion between per-patient inputs and columns ---------------------------------------


def _code_of(value: Any, choices: tuple[str, ...]) -> int:
    return -1 if value is None else choices.index(value)


def _flag(value: bool | None) -> int:
    return -1 if value is None else int(value)


def batch_columns_from_inputs(inputs: Sequence[ScoreInputs]) -> BatchColumns:
    """Columns for a list of per-patient inputs (tests and small cohorts; slow for large ones)."""
    n = len(inputs)
    labs = {
        key: np.array([i.labs[key].value if key in i.labs else np.nan for i in inputs]) for key in LAB_KEYS
    }
    findings: dict[str, NDArray[Any]] = {}
    for name, choices in ENUMS.items():
        findings[name] = np.array([_code_of(getattr(i.findings, name), choices) for i in inputs], np.int64)
    for name in BOOLEANS:
        findings[name] = np.array([_flag(getattr(i.findings, name)) for i in inputs], np.int64)
    for name in NUMBERS:
        findings[name] = np.array(
            [np.nan if (v := getattr(i.findings, name)) is None else v for i in inputs], np.float64
        )
    for name in INTEGERS:
        findings[name] = np.array(
            [-1 if (v := getattr(i.findings, name)) is None else v for i in inputs], np.int64
        )
    tumours = [(row, t) for row, i in enumerate(inputs) for t in (i.findings.liver_tumours or ())]
    nodules = [(row, nd) for row, i in enumerate(inputs) for nd in (i.findings.lung_nodules or ())]
    return BatchColumns(
        n=n,
        age_years=np.array([np.nan if i.age_years is None else i.age_years for i in inputs], np.float64),
        sex=np.array([_code_of(i.sex, SEXES) for i in inputs], np.int64),
        labs=labs,
        findings=findings,
        tumours_stated=np.array([i.findings.liver_tumours is not None for i in inputs], np.bool_),
        tumour_patient=np.array([row for row, _ in tumours], np.int64),
        tumour_diameter_cm=np.array([t.diameter_cm for _, t in tumours], np.float64),
        nodules_stated=np.array([i.findings.lung_nodules is not None for i in inputs], np.bool_),
        nodule_patient=np.array([row for row, _ in nodules], np.int64),
        nodule_type=np.array([NODULE_TYPES.index(nd.type) for _, nd in nodules], np.int64),
        nodule_status=np.array([_code_of(nd.status, NODULE_STATUSES) for _, nd in nodules], np.int64),
        nodule_prior_category=np.array(
            [_code_of(nd.prior_category, PRIOR_CATEGORIES) for _, nd in nodules], np.int64
        ),
        nodule_upper_lobe=np.array([_flag(nd.upper_lobe) for _, nd in nodules], np.int64),
        nodule_spiculated=np.array([_flag(nd.spiculated) for _, nd in nodules], np.int64),
        nodule_numbers={
            name: np.array(
                [np.nan if (v := getattr(nd, name)) is None else v for _, nd in nodules], np.float64
            )
            for name in NODULE_NUMBERS
        },
    )


def _decode(code: int, choices: tuple[str, ...]) -> Any:
    return None if code < 0 else choices[code]


def _unflag(code: int) -> bool | None:
    return None if code < 0 else bool(code)


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def score_inputs_from_columns(columns: BatchColumns, row: int) -> ScoreInputs:
    """One row of ``columns`` as per-patient inputs (for loops over a subsample)."""
    labs = {}
    for key, values in columns.labs.items():
        if not np.isnan(values[row]):
            analyte = analyte_by_key(key)
            labs[key] = LabValue(
                key=key, code=analyte.loinc, value=float(values[row]), unit=analyte.canonical_unit
            )
    f = columns.findings
    kwargs: dict[str, Any] = {}
    for name, choices in ENUMS.items():
        kwargs[name] = _decode(int(f[name][row]), choices)
    for name in BOOLEANS:
        kwargs[name] = _unflag(int(f[name][row]))
    for name in NUMBERS:
        kwargs[name] = _num(f[name][row])
    for name in INTEGERS:
        kwargs[name] = None if f[name][row] < 0 else int(f[name][row])
    if columns.tumours_stated[row]:
        rows = np.flatnonzero(columns.tumour_patient == row)
        kwargs["liver_tumours"] = tuple(
            Tumour(diameter_cm=float(columns.tumour_diameter_cm[r])) for r in rows
        )
    if columns.nodules_stated[row]:
        rows = np.flatnonzero(columns.nodule_patient == row)
        kwargs["lung_nodules"] = tuple(
            Nodule(
                type=_decode(int(columns.nodule_type[r]), NODULE_TYPES),
                status=_decode(int(columns.nodule_status[r]), NODULE_STATUSES),
                prior_category=_decode(int(columns.nodule_prior_category[r]), PRIOR_CATEGORIES),
                upper_lobe=_unflag(int(columns.nodule_upper_lobe[r])),
                spiculated=_unflag(int(columns.nodule_spiculated[r])),
                **{name: _num(columns.nodule_numbers[name][r]) for name in NODULE_NUMBERS},
            )
            for r in rows
        )
    return ScoreInputs(
        age_years=_num(columns.age_years[row]),
        sex=_decode(int(columns.sex[row]), SEXES),
        labs=labs,
        findings=Findings(**kwargs),
    )


__all__ = [
    "BatchColumns",
    "BatchScoreResult",
    "batch_columns_from_inputs",
    "score_inputs_from_columns",
    "scores_evaluate_batch",
    "treatments_from_bits",
]

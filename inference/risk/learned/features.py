"""Feature definitions (data) and the one transform shared by training and prediction.

Pipeline per feature, in this order, with every constant learned on the training split only:
1. raw value x (source unit) times ``multiplier`` (e.g. PBC age days -> years);
2. missing -> training median (numeric) or training mode (categorical), flagged as imputed;
3. ``log`` transform for right-skewed labs (multiplicative effects; tames outliers);
4. clip to the training range of the transformed value (no extrapolation; flagged);
5. standardise: z = (t - mean) / scale, mean and scale from the imputed training values.
Because z has mean 0 on the training data, coefficient * z is a feature's contribution to
the linear predictor relative to an average training patient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from inference.risk.learned.errors import ArtefactInvalid, InputInvalid

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Transform = Literal["identity", "log"]


@dataclass(frozen=True)
class FeatureDef:
    """What a feature is, before anything is learned from data."""

    name: str
    column: str
    unit: str
    transform: Transform = "identity"
    multiplier: float = 1.0
    # categorical inputs: level -> numeric code (an ordinal score such as Edema 0/0.5/1)
    levels: Mapping[str, float] | None = None
    description: str = ""


@dataclass(frozen=True)
class FeatureSpec:
    """A FeatureDef plus the constants learned on the training split (what model.json stores)."""

    name: str
    column: str
    unit: str
    transform: Transform
    multiplier: float
    levels: dict[str, float] | None
    description: str
    impute_value: float  # in source units for numeric columns, the level code for categorical
    clip_low: float
    clip_high: float
    mean: float
    scale: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        try:
            return cls(
                name=str(data["name"]),
                column=str(data["column"]),
                unit=str(data["unit"]),
                transform=_transform(str(data["transform"])),
                multiplier=float(data["multiplier"]),
                levels=None
                if data["levels"] is None
                else {str(k): float(v) for k, v in dict(data["levels"]).items()},
                description=str(data.get("description", "")),
                impute_value=float(data["impute_value"]),
                clip_low=float(data["clip_low"]),
                clip_high=float(data["clip_high"]),
                mean=float(data["mean"]),
                scale=float(data["scale"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactInvalid(f"bad feature entry: {exc}", detail={"feature": data}) from exc


def _transform(name: str) -> Transform:
    if name == "log":
        return "log"
    if name == "identity":
        return "identity"
    raise ArtefactInvalid(f"unknown transform {name!r}")


@dataclass
class Encoded:
    """Standardised design matrix plus per-cell flags, rows in input order."""

    z: FloatArray
    imputed: BoolArray
    clipped: BoolArray
    feature_names: tuple[str, ...] = field(default=())


def _numeric_column(column: str, raw: Sequence[object] | np.ndarray) -> FloatArray:
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu":
        out = raw.astype(np.float64)
    else:
        out = _floats_parse(column, raw)
    bad = np.flatnonzero(np.isinf(out) | (out < 0))
    if bad.size:
        rows = (bad + 1).tolist()
        raise InputInvalid(
            f"column {column!r}: negative or infinite values in rows {rows[:10]}",
            detail={"column": column, "rows": rows},
        )
    return out


def _floats_parse(column: str, raw: Sequence[object] | np.ndarray) -> FloatArray:
    out = np.full(len(raw), np.nan)
    for i, value in enumerate(raw):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        try:
            out[i] = float(value) if isinstance(value, int | float) else float(str(value))
        except (TypeError, ValueError):
            raise InputInvalid(
                f"column {column!r} row {i + 1}: {value!r} is not a number",
                detail={"column": column, "row": i + 1},
            ) from None
    return out


def _categorical_codes(
    column: str, raw: Sequence[object] | np.ndarray, levels: Mapping[str, float]
) -> FloatArray:
    out = np.full(len(raw), np.nan)
    for i, value in enumerate(raw):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        key = str(value).strip()
        if key == "":
            continue
        if key not in levels:
            raise InputInvalid(
                f"column {column!r} row {i + 1}: {value!r} not in {sorted(levels)}",
                detail={"column": column, "row": i + 1, "levels": sorted(levels)},
            )
        out[i] = levels[key]
    return out


def _source_values(
    column: str,
    raw: Sequence[object] | np.ndarray,
    levels: Mapping[str, float] | None,
    multiplier: float,
) -> FloatArray:
    if levels is not None:
        return _categorical_codes(column, raw, levels)
    return _numeric_column(column, raw) * multiplier


def _apply_transform(values: FloatArray, transform: Transform) -> FloatArray:
    if transform == "log":
        with np.errstate(divide="ignore"):
            # a zero lab value maps to -inf and is then clipped to the training minimum
            return np.log(values)
    return values


def _columns_get(
    values: Mapping[str, Sequence[object] | np.ndarray], column: str
) -> Sequence[object] | np.ndarray:
    if column not in values:
        raise InputInvalid(f"missing input column {column!r}", detail={"missing_columns": [column]})
    return values[column]


def feature_specs_fit(
    defs: Sequence[FeatureDef], values: Mapping[str, Sequence[object] | np.ndarray]
) -> list[FeatureSpec]:
    """Learn imputation, clipping and scaling constants from the training rows given."""
    specs: list[FeatureSpec] = []
    for d in defs:
        src = _source_values(d.column, _columns_get(values, d.column), d.levels, d.multiplier)
        observed = src[~np.isnan(src)]
        if observed.size == 0:
            raise InputInvalid(f"feature {d.name}: no observed training values")
        if d.levels is not None:
            codes, counts = np.unique(observed, return_counts=True)
            impute_value = float(codes[np.argmax(counts)])  # mode; ties -> lowest code
        else:
            impute_value = float(np.median(observed)) / d.multiplier
        fill = impute_value * (1.0 if d.levels is not None else d.multiplier)
        filled = np.where(np.isnan(src), fill, src)
        observed_t = _apply_transform(observed, d.transform)
        finite = observed_t[np.isfinite(observed_t)]
        low, high = float(finite.min()), float(finite.max())
        t = np.clip(_apply_transform(filled, d.transform), low, high)
        scale = float(t.std())
        specs.append(
            FeatureSpec(
                name=d.name,
                column=d.column,
                unit=d.unit,
                transform=d.transform,
                multiplier=d.multiplier,
                levels=None if d.levels is None else dict(d.levels),
                description=d.description,
                impute_value=impute_value,
                clip_low=low,
                clip_high=high,
                mean=float(t.mean()),
                scale=scale if scale > 0 else 1.0,
            )
        )
    return specs


def features_encode(
    specs: Sequence[FeatureSpec], values: Mapping[str, Sequence[object] | np.ndarray]
) -> Encoded:
    """Apply the learned pipeline; numpy only, identical in training and at prediction time."""
    if not specs:
        raise ArtefactInvalid("model has no features")
    n_rows = len(_columns_get(values, specs[0].column))
    z = np.empty((n_rows, len(specs)))
    imputed = np.zeros((n_rows, len(specs)), dtype=bool)
    clipped = np.zeros((n_rows, len(specs)), dtype=bool)
    for j, s in enumerate(specs):
        raw = _columns_get(values, s.column)
        if len(raw) != n_rows:
            raise InputInvalid(f"column {s.column!r} has {len(raw)} rows, expected {n_rows}")
        src = _source_values(s.column, raw, s.levels, s.multiplier)
        missing = np.isnan(src)
        fill = s.impute_value * (1.0 if s.levels is not None else s.multiplier)
        t = _apply_transform(np.where(missing, fill, src), s.transform)
        outside = (t < s.clip_low) | (t > s.clip_high)
        z[:, j] = (np.clip(t, s.clip_low, s.clip_high) - s.mean) / s.scale
        imputed[:, j] = missing
        clipped[:, j] = outside & ~missing
    return Encoded(z=z, imputed=imputed, clipped=clipped, feature_names=tuple(s.name for s in specs))


def _labs(columns: Sequence[tuple[str, str]], transform: Transform = "log") -> list[FeatureDef]:
    return [
        FeatureDef(name=f"log_{c}" if transform == "log" else c, column=c, unit=u, transform=transform)
        for c, u in columns
    ]


HCV_FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("Age", "Age", "years"),
    FeatureDef("Sex_male", "Sex", "", levels={"m": 1.0, "f": 0.0}, description="1 = male"),
    *_labs(
        [
            ("ALB", "g/L"),
            ("ALP", "U/L"),
            ("ALT", "U/L"),
            ("AST", "U/L"),
            ("BIL", "umol/L"),
            ("CHE", "kU/L"),
            ("CHOL", "mmol/L"),
            ("CREA", "umol/L"),
            ("GGT", "U/L"),
            ("PROT", "g/L"),
        ]
    ),
)

ILPD_FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("Age", "Age", "years"),
    FeatureDef("Gender_male", "Gender", "", levels={"Male": 1.0, "Female": 0.0}, description="1 = male"),
    # bilirubin and enzymes are strongly right-skewed (dev maxima 42.8 mg/dL, 4929 IU/L): log scale
    *_labs([("TB", "mg/dL"), ("DB", "mg/dL"), ("Alkphos", "IU/L"), ("Sgpt", "IU/L"), ("Sgot", "IU/L")]),
    # protein, albumin and A/G are near-symmetric: kept on their own scale
    *_labs([("TP", "g/dL"), ("ALB", "g/dL"), ("A/G", "ratio")], transform="identity"),
)

_EDEMA_LEVELS = {"N": 0.0, "S": 0.5, "Y": 1.0}  # Dickson 1989 edema score
_YES = {"Y": 1.0, "N": 0.0}

PBC_MAYO5: tuple[FeatureDef, ...] = (
    FeatureDef("log_Bilirubin", "Bilirubin", "mg/dL", transform="log"),
    FeatureDef("log_Albumin", "Albumin", "g/dL", transform="log"),
    FeatureDef("Age_years", "Age", "days", multiplier=1.0 / 365.25, description="age in years"),
    FeatureDef("log_Prothrombin", "Prothrombin", "s", transform="log"),
    FeatureDef("Edema_score", "Edema", "", levels=_EDEMA_LEVELS, description="N 0, S 0.5, Y 1"),
)
PBC_STAGE = FeatureDef("Stage", "Stage", "1-4", description="histologic stage")
PBC_TRIAL_LABS: tuple[FeatureDef, ...] = (
    FeatureDef("log_Copper", "Copper", "ug/day", transform="log"),
    FeatureDef("log_SGOT", "SGOT", "U/mL", transform="log"),
)
PBC_WIDE_EXTRA: tuple[FeatureDef, ...] = (
    FeatureDef("Ascites", "Ascites", "", levels=_YES, description="1 = present"),
    FeatureDef("Hepatomegaly", "Hepatomegaly", "", levels=_YES, description="1 = present"),
    FeatureDef("Spiders", "Spiders", "", levels=_YES, description="1 = present"),
    FeatureDef("Sex_male", "Sex", "", levels={"M": 1.0, "F": 0.0}, description="1 = male"),
    FeatureDef("log_Alk_Phos", "Alk_Phos", "U/L", transform="log"),
    FeatureDef("log_Cholesterol", "Cholesterol", "mg/dL", transform="log"),
    FeatureDef("log_Tryglicerides", "Tryglicerides", "mg/dL", transform="log"),
    FeatureDef("log_Platelets", "Platelets", "10^3/uL", transform="log"),
)

# Candidate feature sets for the PBC Cox model, simplest first; near-ties in CV go to the
# set with fewer features (see training_survival).
PBC_FEATURE_SETS: dict[str, tuple[FeatureDef, ...]] = {
    "mayo5": PBC_MAYO5,
    "mayo5+stage": (*PBC_MAYO5, PBC_STAGE),
    "mayo5+stage+copper+sgot": (*PBC_MAYO5, PBC_STAGE, *PBC_TRIAL_LABS),
    "wide": (*PBC_MAYO5, PBC_STAGE, *PBC_TRIAL_LABS, *PBC_WIDE_EXTRA),
}

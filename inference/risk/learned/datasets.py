"""The three cohort formats (HCV, ILPD, Mayo PBC) and the model tasks built on them.

Each format is read exactly as distributed (its own headers, codes and units, see the
SOURCE.md beside each file), so a clinician's export in the same format can be scored as-is.
Reading never drops or reorders rows: row k of the file is row k of the cohort.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from inference.risk.learned.errors import InputInvalid, UnknownModel

# learned -> risk -> inference -> repository root; the shared data sit beside the repository.
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "data"

MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"})

ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a format, as written in the file."""

    name: str
    kind: ColumnKind
    unit: str
    description: str
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetFormat:
    """A CSV format: where the dev file lives, its id/label/time columns and inputs."""

    key: str
    relative_path: str
    id_column: str | None
    label_column: str
    time_column: str | None
    columns: tuple[ColumnSpec, ...]
    citation: str
    licence: str

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class TaskSpec:
    """A model key: which format it reads and how raw labels become its outcome."""

    key: str
    format_key: str
    kind: Literal["binary", "multiclass", "survival"]
    classes: tuple[str, ...]
    # raw label code -> class index (classification) or -> 1 event / 0 censored (survival)
    label_map: Mapping[str, int]
    label_definition: str
    holdout_strata: Literal["label", "raw_label"] = "raw_label"
    # artefact version the training command writes by default
    version: str = "1.0.0"
    # raw label codes that belong to neither class: they stay in the file (and in the seeded
    # split, so the hold-out is the same rows as before) and are scored at prediction time,
    # but are used for neither training, model selection, calibration nor the primary metric
    excluded_labels: frozenset[str] = frozenset()
    # a binary task whose positive class is a union of stages may be modelled per stage: raw
    # label code -> stage index, stage 0 being the negative class (see training_classifier)
    stage_classes: tuple[str, ...] = ()
    stage_map: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Cohort:
    """Parsed rows: numeric columns as float arrays (NaN = missing), categorical as str|None."""

    format_key: str
    n_rows: int
    values: dict[str, np.ndarray]
    ids: list[str] | None = None
    raw_labels: list[str | None] | None = None
    time: np.ndarray | None = None
    sha256: str | None = None
    source: str | None = field(default=None)


def _lab(name: str, unit: str, description: str) -> ColumnSpec:
    return ColumnSpec(name=name, kind="numeric", unit=unit, description=description)


HCV = DatasetFormat(
    key="hcv",
    relative_path="hcv-uci/hcvdat0_dev.csv",
    id_column="id",  # the file's first header is empty; it holds the original UCI row id
    label_column="Category",
    time_column=None,
    columns=(
        _lab("Age", "years", "age"),
        ColumnSpec("Sex", "categorical", "", "sex (m/f)", ("m", "f")),
        _lab("ALB", "g/L", "albumin"),
        _lab("ALP", "U/L", "alkaline phosphatase"),
        _lab("ALT", "U/L", "alanine aminotransferase"),
        _lab("AST", "U/L", "aspartate aminotransferase"),
        _lab("BIL", "umol/L", "total bilirubin"),
        _lab("CHE", "kU/L", "cholinesterase"),
        _lab("CHOL", "mmol/L", "cholesterol"),
        _lab("CREA", "umol/L", "creatinine"),
        _lab("GGT", "U/L", "gamma-glutamyl transferase"),
        _lab("PROT", "g/L", "total protein"),
    ),
    citation=(
        "Lichtinghagen R, Klawonn F, Hoffmann G. HCV data [Dataset]. UCI Machine Learning "
        "Repository, 2020. Hoffmann G et al., J Lab Precis Med 2018."
    ),
    licence="CC BY 4.0 (as stated by UCI)",
)

ILPD = DatasetFormat(
    key="ilpd",
    relative_path="ilpd/ilpd_dev.csv",
    id_column=None,
    label_column="Selector",
    time_column=None,
    columns=(
        _lab("Age", "years", "age (ages above 89 recorded as 90)"),
        ColumnSpec("Gender", "categorical", "", "sex (Male/Female)", ("Male", "Female")),
        _lab("TB", "mg/dL", "total bilirubin"),
        _lab("DB", "mg/dL", "direct bilirubin"),
        _lab("Alkphos", "IU/L", "alkaline phosphatase"),
        _lab("Sgpt", "IU/L", "ALT"),
        _lab("Sgot", "IU/L", "AST"),
        _lab("TP", "g/dL", "total protein"),
        _lab("ALB", "g/dL", "albumin"),
        _lab("A/G", "ratio", "albumin/globulin ratio"),
    ),
    citation=(
        "Ramana B, Venkateswarlu N. ILPD (Indian Liver Patient Dataset) [Dataset]. UCI Machine "
        "Learning Repository, 2012."
    ),
    licence="CC BY 4.0 (as stated by UCI)",
)

_YN = ("Y", "N")
PBC = DatasetFormat(
    key="pbc",
    relative_path="pbc-mayo/cirrhosis_dev.csv",
    id_column="ID",
    label_column="Status",
    time_column="N_Days",
    columns=(
        ColumnSpec("Drug", "categorical", "", "trial arm", ("D-penicillamine", "Placebo")),
        _lab("Age", "days", "age at registration"),
        ColumnSpec("Sex", "categorical", "", "sex (F/M)", ("F", "M")),
        ColumnSpec("Ascites", "categorical", "", "ascites (Y/N)", _YN),
        ColumnSpec("Hepatomegaly", "categorical", "", "hepatomegaly (Y/N)", _YN),
        ColumnSpec("Spiders", "categorical", "", "spider angiomata (Y/N)", _YN),
        ColumnSpec(
            "Edema",
            "categorical",
            "",
            "N none / S without diuretics or resolved / Y despite diuretics",
            ("N", "S", "Y"),
        ),
        _lab("Bilirubin", "mg/dL", "serum bilirubin"),
        _lab("Cholesterol", "mg/dL", "serum cholesterol"),
        _lab("Albumin", "g/dL", "serum albumin"),
        _lab("Copper", "ug/day", "urine copper"),
        _lab("Alk_Phos", "U/L", "alkaline phosphatase"),
        _lab("SGOT", "U/mL", "AST (SGOT)"),
        _lab("Tryglicerides", "mg/dL", "triglycerides"),
        _lab("Platelets", "10^3/uL", "platelet count"),
        _lab("Prothrombin", "s", "prothrombin time"),
        _lab("Stage", "1-4", "histologic stage"),
    ),
    citation=(
        "Fleming TR, Harrington DP. Counting Processes and Survival Analysis. Wiley, 1991 "
        "(Appendix D.1); Dickson ER et al. Hepatology 1989;10:1-7."
    ),
    licence=(
        "Not stated by the source repository; UCI lists its copy under CC BY 4.0; also in the R "
        "survival package (LGPL). Public research data: cite the above."
    ),
)

FORMATS: dict[str, DatasetFormat] = {f.key: f for f in (HCV, ILPD, PBC)}

# The issue names the HCV outcomes "blood donor vs hepatitis/fibrosis/cirrhosis, and the 4
# classes". Suspect blood donors (0s: donors whose labs were flagged as pathological, status
# unresolved) are in neither, so they are excluded from training and from the primary metric
# rather than labelled by guess; their rows are still scored.
_HCV_STAGES = {"0": 0, "1": 1, "2": 2, "3": 3}
_HCV_SUSPECT = frozenset({"0s"})
TASKS: dict[str, TaskSpec] = {
    "hcv_binary": TaskSpec(
        key="hcv_binary",
        format_key="hcv",
        kind="binary",
        classes=("donor", "hcv_disease"),
        label_map={"0": 0, "1": 1, "2": 1, "3": 1},
        label_definition=(
            "Category 0 (blood donor) -> donor; 1 hepatitis, 2 fibrosis, 3 cirrhosis -> "
            "hcv_disease; 0s (suspect blood donor) belongs to neither and is excluded from "
            "training and from the primary metric (scored at prediction time; a secondary "
            "hold-out figure counts 0s as donors)"
        ),
        version="2.0.0",
        excluded_labels=_HCV_SUSPECT,
        stage_classes=("donor", "hepatitis", "fibrosis", "cirrhosis"),
        stage_map=_HCV_STAGES,
    ),
    "hcv_stage": TaskSpec(
        key="hcv_stage",
        format_key="hcv",
        kind="multiclass",
        classes=("donor", "hepatitis", "fibrosis", "cirrhosis"),
        label_map=_HCV_STAGES,
        label_definition=(
            "Category 0 -> donor, 1 -> hepatitis, 2 -> fibrosis, 3 -> cirrhosis; 0s (suspect "
            "blood donor) is none of the 4 classes and is excluded from training and metrics"
        ),
        version="2.0.0",
        excluded_labels=_HCV_SUSPECT,
    ),
    "ilpd": TaskSpec(
        key="ilpd",
        format_key="ilpd",
        kind="binary",
        classes=("non_liver_patient", "liver_patient"),
        label_map={"2": 0, "1": 1},
        label_definition="Selector 1 -> liver_patient (positive), 2 -> non_liver_patient",
        holdout_strata="label",
        version="1.1.0",
    ),
    "pbc": TaskSpec(
        key="pbc",
        format_key="pbc",
        kind="survival",
        classes=("death",),
        label_map={"D": 1, "C": 0, "CL": 0},
        label_definition=(
            "Status D = death (event); C = censored alive; CL = liver transplant, treated as "
            "censored at the transplant date (transplant-free follow-up is not the outcome)"
        ),
    ),
}

MODEL_KEYS: tuple[str, ...] = tuple(TASKS)


def task_get(key: str) -> TaskSpec:
    try:
        return TASKS[key]
    except KeyError:
        raise UnknownModel(
            f"unknown risk model {key!r}; expected one of {', '.join(MODEL_KEYS)}",
            detail={"model": key},
        ) from None


def label_code(fmt: DatasetFormat, raw: str) -> str:
    """The code part of a raw label: HCV writes '0s=suspect Blood Donor', others bare codes."""
    text = raw.strip()
    if fmt.key == "hcv":
        return text.split("=", 1)[0].strip()
    return text


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_missing(token: str) -> bool:
    return token.strip() in MISSING_TOKENS


def _parse_numeric(name: str, tokens: list[str]) -> np.ndarray:
    out = np.full(len(tokens), np.nan)
    bad: list[int] = []
    for i, token in enumerate(tokens):
        if _is_missing(token):
            continue
        try:
            out[i] = float(token)
        except ValueError:
            bad.append(i + 1)
            continue
        if not np.isfinite(out[i]) or out[i] < 0:
            # every input here is a non-negative quantity (labs, age, days, stage)
            bad.append(i + 1)
    if bad:
        raise InputInvalid(
            f"column {name!r}: non-numeric or negative values in data rows {bad[:10]}",
            detail={"column": name, "rows": bad},
        )
    return out


def _parse_categorical(spec: ColumnSpec, tokens: list[str]) -> np.ndarray:
    out = np.empty(len(tokens), dtype=object)
    bad: list[int] = []
    for i, token in enumerate(tokens):
        if _is_missing(token):
            out[i] = None
        elif token.strip() in spec.levels:
            out[i] = token.strip()
        else:
            bad.append(i + 1)
    if bad:
        raise InputInvalid(
            f"column {spec.name!r}: values outside {list(spec.levels)} in data rows {bad[:10]}",
            detail={"column": spec.name, "rows": bad, "levels": list(spec.levels)},
        )
    return out


def _read_text_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputInvalid(f"input file not found: {path}", detail={"path": str(path)})
    try:
        # strings only: we parse and validate every value ourselves, nothing is guessed
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputInvalid(f"cannot parse {path} as CSV: {exc}", detail={"path": str(path)}) from exc
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def cohort_read(
    fmt: DatasetFormat,
    path: Path,
    *,
    columns: list[str] | None = None,
    require_outcome: bool = False,
) -> Cohort:
    """Read ``path`` in format ``fmt``; ``columns`` limits which inputs must be present.

    The label (and time) columns are optional unless ``require_outcome``. Unknown extra
    columns are ignored; missing required columns and malformed values raise InputInvalid.
    """
    frame = _read_text_frame(path)
    if fmt.id_column == "id" and frame.columns[0] in ("", "Unnamed: 0"):
        frame = frame.rename(columns={frame.columns[0]: "id"})
    needed = [c.name for c in fmt.columns] if columns is None else columns
    outcome_cols = [fmt.label_column] + ([fmt.time_column] if fmt.time_column else [])
    required = needed + (outcome_cols if require_outcome else [])
    absent = [c for c in required if c not in frame.columns]
    if absent:
        raise InputInvalid(
            f"{path.name}: missing columns {absent} for the {fmt.key} format",
            detail={"missing_columns": absent, "format": fmt.key},
        )
    if len(frame) == 0:
        raise InputInvalid(f"{path.name}: no data rows", detail={"path": str(path)})
    values: dict[str, np.ndarray] = {}
    for name in needed:
        spec = fmt.column(name)
        tokens = frame[name].tolist()
        values[name] = (
            _parse_numeric(name, tokens) if spec.kind == "numeric" else _parse_categorical(spec, tokens)
        )
    cohort = Cohort(format_key=fmt.key, n_rows=len(frame), values=values, source=str(path))
    if fmt.id_column and fmt.id_column in frame.columns:
        cohort.ids = [str(v).strip() for v in frame[fmt.id_column].tolist()]
    if fmt.label_column in frame.columns:
        cohort.raw_labels = [None if _is_missing(v) else label_code(fmt, v) for v in frame[fmt.label_column]]
    if fmt.time_column and fmt.time_column in frame.columns:
        cohort.time = _parse_numeric(fmt.time_column, frame[fmt.time_column].tolist())
    cohort.sha256 = file_sha256(path)
    return cohort


EXCLUDED = -1  # outcome code of rows whose label the task excludes (``TaskSpec.excluded_labels``)


def outcome_encode(task: TaskSpec, cohort: Cohort, *, mapping: Mapping[str, int] | None = None) -> np.ndarray:
    """Integer outcome per row (class index, or event 1/0), ``EXCLUDED`` for excluded labels;
    every other row must have a known label. ``mapping`` replaces ``task.label_map`` (stages)."""
    if cohort.raw_labels is None:
        raise InputInvalid(f"no label column for task {task.key}", detail={"task": task.key})
    label_map = task.label_map if mapping is None else mapping
    out = np.empty(cohort.n_rows, dtype=np.int64)
    bad: list[int] = []
    for i, raw in enumerate(cohort.raw_labels):
        if raw is not None and raw in task.excluded_labels:
            out[i] = EXCLUDED
        elif raw is None or raw not in label_map:
            bad.append(i + 1)
        else:
            out[i] = label_map[raw]
    if bad:
        raise InputInvalid(
            f"task {task.key}: unknown or missing labels in data rows {bad[:10]}",
            detail={"rows": bad, "known": sorted([*label_map, *task.excluded_labels])},
        )
    return out


def data_path_resolve(task: TaskSpec, data: Path | None) -> Path:
    """A CSV path, a data root holding ``<format dir>/<file>``, or None for the default root."""
    fmt = FORMATS[task.format_key]
    if data is None:
        return DEFAULT_DATA_ROOT / fmt.relative_path
    if data.is_dir():
        return data / fmt.relative_path
    return data

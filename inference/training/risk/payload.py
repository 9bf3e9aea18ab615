"""Pieces of model.json shared by every model family: data, input format, split, targets."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.risk.learned.artefact import SCHEMA, LoadedArtefact, model_json_bytes, sha256_hex
from inference.risk.learned.datasets import Cohort, DatasetFormat, TaskSpec
from inference.risk.learned.features import FeatureDef

# The task's acceptance targets on held-out data (hcv_stage has none: it is reported only).
TARGETS: dict[str, tuple[str, float]] = {
    "hcv_binary": ("auroc", 0.98),
    "ilpd": ("auroc", 0.78),
    "pbc": ("c_index", 0.85),
}
INTENDED_USE = (
    "Research-grade decision support: an estimate shown to a clinician beside the validated "
    "scores and the patient's record. It supports, and never replaces, clinical judgement; "
    "it is not a diagnostic device and must not be used to decide care on its own."
)

Values = dict[str, np.ndarray]


def values_subset(values: Mapping[str, np.ndarray], idx: NDArray[np.intp]) -> Values:
    return {k: v[idx] for k, v in values.items()}


def columns_of(defs: Sequence[FeatureDef]) -> list[str]:
    return list(dict.fromkeys(d.column for d in defs))


def artefact_preview(payload: dict[str, Any]) -> LoadedArtefact:
    """The artefact exactly as it will be written (rounded JSON), for hold-out scoring."""
    data = model_json_bytes(payload)
    return LoadedArtefact(payload["key"], payload["version"], sha256_hex(data), Path(), json.loads(data))


def holdout_ids(cohort: Cohort, test: NDArray[np.intp]) -> dict[str, Any]:
    if cohort.ids is not None:
        return {"kind": "id column", "ids": [cohort.ids[i] for i in test]}
    return {"kind": "1-based data row number in the dev file", "ids": [int(i) + 1 for i in test]}


def dataset_block(fmt: DatasetFormat, task: TaskSpec, cohort: Cohort) -> dict[str, Any]:
    counts = Counter(r for r in (cohort.raw_labels or []) if r is not None)
    return {
        "format": fmt.key,
        "file": fmt.relative_path,
        "sha256": cohort.sha256,
        "n_rows": cohort.n_rows,
        "citation": fmt.citation,
        "licence": fmt.licence,
        "label_column": fmt.label_column,
        "label_definition": task.label_definition,
        "label_counts": dict(sorted(counts.items())),
    }


def input_block(fmt: DatasetFormat, columns: Sequence[str]) -> dict[str, Any]:
    return {
        "format": fmt.key,
        "id_column": fmt.id_column,
        "label_column": fmt.label_column,
        "time_column": fmt.time_column,
        "columns": [
            {
                "name": c.name,
                "kind": c.kind,
                "unit": c.unit,
                "description": c.description,
                "levels": list(c.levels),
            }
            for c in fmt.columns
            if c.name in columns
        ],
    }


def base_payload(
    task: TaskSpec, fmt: DatasetFormat, cohort: Cohort, *, version: str, created_with: str, family: str
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "key": task.key,
        "version": version,
        "task": task.kind,
        "family": family,
        "classes": list(task.classes),
        "dataset": dataset_block(fmt, task, cohort),
        "created_with": created_with,
        "intended_use": INTENDED_USE,
    }


def target_block(key: str, metric_value: float | None) -> dict[str, Any] | None:
    if key not in TARGETS:
        return None
    name, threshold = TARGETS[key]
    return {
        "metric": name,
        "threshold": threshold,
        "holdout_estimate": metric_value,
        "met": bool(metric_value is not None and metric_value >= threshold),
    }

"""Score a cohort CSV in its dataset's own format and write one output row per input row."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from inference.risk.learned.artefact import DEFAULT_ARTEFACT_ROOT, artefact_load
from inference.risk.learned.datasets import FORMATS, cohort_read, task_get
from inference.risk.learned.errors import ArtefactInvalid, InputInvalid
from inference.risk.learned.predictor import RiskPredictions, risk_predict, top_contributions

TOP_K = 3


def _contribution_target(preds: RiskPredictions, row: int) -> int:
    if len(preds.contribution_targets) == 1:
        return 0
    if len(preds.contribution_targets) == preds.values.shape[1]:
        # multiclass: explain the class the model finds most probable for this row
        return int(np.argmax(preds.values[row]))
    # stagewise binary: explain the positive stage with the highest log-odds for this row
    return int(np.argmax(preds.linear_predictor[row]))


def prediction_rows(
    preds: RiskPredictions, ids: list[str] | None, id_column: str | None
) -> list[dict[str, str]]:
    """Output records, in input order; ``ids`` come from the format's id column if present."""
    rows: list[dict[str, str]] = []
    for i in range(preds.n_rows):
        record: dict[str, str] = {"row": str(i + 1)}
        if ids is not None and id_column:
            record[id_column] = ids[i]
        for j, name in enumerate(preds.outputs):
            record[name] = f"{preds.values[i, j]:.6g}"
        target = _contribution_target(preds, i)
        record["imputed"] = ";".join(preds.imputed[i])
        record["out_of_range"] = ";".join(preds.out_of_range[i])
        record["contributions_for"] = preds.contribution_targets[target]
        record["top_contributions"] = ";".join(
            f"{name}:{value:+.3f}" for name, value in top_contributions(preds, i, target=target, k=TOP_K)
        )
        record["model"] = f"{preds.model_key}@{preds.version}"
        record["model_sha256"] = preds.sha256
        rows.append(record)
    return rows


def risk_predict_file(
    *,
    key: str,
    input_path: Path,
    output_path: Path,
    artefact_root: Path = DEFAULT_ARTEFACT_ROOT,
    version: str | None = None,
) -> int:
    """Read ``input_path`` (labels optional), predict, write ``output_path``; returns row count."""
    task = task_get(key)
    artefact = artefact_load(artefact_root, key, version)
    fmt = FORMATS[task.format_key]
    if artefact.payload.get("input", {}).get("format") != fmt.key:
        raise ArtefactInvalid(f"artefact {key} was not trained on the {fmt.key} format")
    columns = list(dict.fromkeys(str(f["column"]) for f in artefact.payload["features"]))
    cohort = cohort_read(fmt, input_path, columns=columns)
    preds = risk_predict(artefact, cohort.values)
    rows = prediction_rows(preds, cohort.ids, fmt.id_column)
    if len(rows) != cohort.n_rows:
        raise InputInvalid("internal error: output rows do not match input rows")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)

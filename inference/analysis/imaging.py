"""The imaging step: fetch the series by WADO-RS, run the model, keep findings, write a SEG."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from inference.analysis.catalog import AnalysisModel
from inference.analysis.errors import StepFailed
from inference.analysis.series_fetch import (
    FetchedSeries,
    series_fetch,
    series_volume_hu,
    study_uid_for_series,
)
from inference.models import AnalysisStep

Progress = Callable[[str, int, int], None]


class ModalityMismatch(StepFailed):
    code = "modality_mismatch"


def imaging_run(*, step: AnalysisStep, model: AnalysisModel, progress: Progress) -> dict[str, Any]:
    study_uid = study_uid_for_series(series_uid=step.series_uid)
    series = series_fetch(
        study_uid=study_uid, series_uid=step.series_uid,
        on_progress=lambda k, n: progress("fetching images", k, n) if k == n or k % 10 == 1 else None,
    )
    if series.modality not in model.modalities:
        raise ModalityMismatch(f"{model.key} takes {', '.join(model.modalities)}, not {series.modality}.")
    progress("running model", 0, 1)
    base: dict[str, Any] = {"kind": model.kind, "series_uid": step.series_uid, "study_uid": study_uid,
                            "sop_instance_uids": series.sop_instance_uids}
    if model.kind == "segmentation":
        return {**base, **_segment(step=step, model=model, series=series)}
    return {**base, **_classify(model=model, series=series)}


def _segment(*, step: AnalysisStep, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    from inference.runtime.api import liver_seg_run, seg_write_to_pacs

    volume, spacing = series_volume_hu(series)
    outcome = liver_seg_run(model_key=model.key, volume_hu=volume, spacing_mm=spacing)
    seg = seg_write_to_pacs(labels=outcome.labels, source=series.datasets, model=outcome.model)
    return {"model": outcome.model, "findings": outcome.findings, "seg": seg,
            "explanations": {"uncertainty": outcome.findings.get("uncertainty")}}


def _classify(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    from inference.runtime.api import cxr_run

    images = [np.asarray(ds.pixel_array) for ds in series.datasets]
    outcome = cxr_run(model_key=model.key, images=images)
    predictions = []
    for ds, prediction in zip(series.datasets, outcome.predictions, strict=True):
        predictions.append({**prediction, "series_uid": str(ds.SeriesInstanceUID), "sop_instance_uid": str(ds.SOPInstanceUID)})
    return {"model": outcome.model, "findings": {"predictions": predictions},
            "explanations": {"heatmaps": [p.get("heatmap_ref") for p in predictions]}}

"""Liver and liver-lesion segmentation of a CT series, with its SEG stored in the PACS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inference.analysis.catalog import AnalysisModel
from inference.analysis.runners.pacs_store import dicom_store
from inference.analysis.series_fetch import FetchedSeries
from inference.runtime.dicom_seg import seg_dicom_from_volume
from inference.runtime.io import dicom_series_from_datasets


def run(
    *, model: AnalysisModel, series: FetchedSeries, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """``progress``: called with each batch's count of slices done (all of them add up to the series')."""
    from inference.runtime.liver import run_liver_seg  # lazy: torch loads in the worker's first liver step

    volume = dicom_series_from_datasets(series.datasets)
    volume_hu, spacing = volume.internal()
    labels, findings = run_liver_seg(volume_hu, spacing, model_key=model.key, progress=progress)
    provenance = findings.get("model") or {}
    seg = seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=provenance)
    return {"model": provenance, "findings": findings, "seg": dicom_store(seg),
            "explanations": {"uncertainty": [lesion.get("confidence") for lesion in findings.get("lesions", [])]}}

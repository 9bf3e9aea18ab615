"""Lung nodule detection on a chest CT series, with one SEG segment per nodule stored in the PACS."""

from __future__ import annotations

from typing import Any

from inference.analysis.catalog import AnalysisModel
from inference.analysis.runners.pacs_store import dicom_store
from inference.analysis.series_fetch import FetchedSeries
from inference.runtime.dicom_seg import seg_dicom_nodules_from_volume
from inference.runtime.io import dicom_series_from_datasets
from inference.runtime.lung_nodule import run_lung_nodule


def run(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    volume = dicom_series_from_datasets(series.datasets)
    volume_hu, spacing = volume.internal()
    labels, findings = run_lung_nodule(volume_hu, spacing, volume=volume)
    provenance = findings.get("model") or {}
    seg = seg_dicom_nodules_from_volume(labels_zyx=labels, volume=volume, model=provenance)
    return {"model": provenance, "findings": findings, "seg": dicom_store(seg),
            "explanations": {"uncertainty": [n.get("confidence") for n in findings.get("nodules", [])]}}

"""Pneumonia classification of chest X-ray images, with a Grad-CAM heatmap per image."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from inference.analysis.catalog import AnalysisModel
from inference.analysis.series_fetch import FetchedSeries

HEATMAP_MAX_PX = 256  # heatmaps are kept inside the report, so keep them small


def heatmap_data_url(heatmap: np.ndarray | None) -> str | None:
    if heatmap is None:
        return None
    image = Image.fromarray(np.asarray(heatmap, dtype=np.uint8))
    image.thumbnail((HEATMAP_MAX_PX, HEATMAP_MAX_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _ood_summary(ood: dict[str, Any] | None) -> dict[str, Any] | None:
    if not ood:
        return None
    return {"flag": bool(ood["flag"]), "reasons": list(ood["reasons"]), "messages": list(ood["messages"])}


def run(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    # The runtime imports torch: only a worker running the model loads it.
    from inference.runtime.cxr import run_cxr
    from inference.runtime.io import dicom_image

    images = [dicom_image(ds) for ds in series.datasets]
    results = run_cxr(model.key, images)
    predictions = []
    for ds, result in zip(series.datasets, results, strict=True):
        predictions.append({
            "series_uid": str(ds.SeriesInstanceUID), "sop_instance_uid": str(ds.SOPInstanceUID),
            "probability": result["calibrated_probability"], "threshold": result["threshold"],
            "positive": result["positive"], "label": result["label"], "probabilities": result["probabilities"],
            "heatmap_ref": heatmap_data_url(result.get("heatmap")),
            # Where the model abstains (uncertain band, out of distribution), and why, by code.
            "decision": result.get("decision", result["label"]), "uncertain": bool(result.get("uncertain")),
            "ood": _ood_summary(result.get("ood")),
        })
    return {"model": results[0]["model"], "findings": {"predictions": predictions},
            # The heatmaps themselves live in the predictions; the explanation names where.
            "explanations": {"heatmaps": [{"sop_instance_uid": p["sop_instance_uid"], "in": "findings.predictions"} for p in predictions]}}

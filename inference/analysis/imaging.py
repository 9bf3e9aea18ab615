"""The imaging step: fetch the series by WADO-RS, run the model, keep findings, write a SEG.

Runs in the GPU worker only (the web process never imports torch): the runtime is imported
inside the functions.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from inference.analysis.catalog import AnalysisModel
from inference.analysis.errors import StepFailed
from inference.analysis.series_fetch import FetchedSeries, series_fetch, study_uid_for_series
from inference.eligibility import Abstention, age_years, population_check
from inference.models import AnalysisStep
from inference.registry import ModelCard, model_card_get

Progress = Callable[[str, int, int], None]
HEATMAP_MAX_PX = 256  # heatmaps are kept inside the report, so keep them small


class ModalityMismatch(StepFailed):
    code = "modality_mismatch"


def _study_date(series: FetchedSeries) -> dt.date | None:
    raw = str(getattr(series.datasets[0], "StudyDate", "") or "") if series.datasets else ""
    try:
        return dt.datetime.strptime(raw[:8], "%Y%m%d").date()
    except ValueError:
        return None


def series_facts(*, series: FetchedSeries, birth_date: dt.date, fallback_date: dt.date) -> dict[str, Any]:
    """What a card's population criteria read from a fetched series and the patient record.

    Age is the patient's age on the study date (the record's birth date: DICOM PatientAge is
    often blank or de-identified), or on the analysis date when the series has no StudyDate.
    """
    first = series.datasets[0] if series.datasets else None
    return {
        "age_years": age_years(birth_date, _study_date(series) or fallback_date),
        "modality": series.modality,
        "view_position": str(getattr(first, "ViewPosition", "") or "").strip().upper() or None,
        "body_part": str(getattr(first, "BodyPartExamined", "") or "").strip().upper() or None,
    }


def _abstained(*, model: AnalysisModel, card: ModelCard, base: dict[str, Any], abstention: Abstention) -> dict[str, Any]:
    """A step result that says why the model was not applied: no findings, never a guess."""
    return {
        **base,
        "kind": model.kind,
        "model": {"key": card.key, "version": card.version, "weights_sha256": card.weights_sha256},
        "findings": {},
        "abstention": {**abstention.as_dict(), "population": (card.population or {}).get("description", "")},
    }


def imaging_run(*, step: AnalysisStep, model: AnalysisModel, progress: Progress) -> dict[str, Any]:
    card = model_card_get(key=model.key)
    patient = step.request.patient
    requested_on = step.request.created_at.date()
    base: dict[str, Any] = {"kind": model.kind, "series_uid": step.series_uid}
    # Age first: a child's CT is not fetched only to be refused.
    early = population_check(
        card.population, {"age_years": age_years(patient.birth_date, requested_on)}, only={"age_years"}
    )
    if early is not None:
        return _abstained(model=model, card=card, base=base, abstention=early)
    study_uid = study_uid_for_series(series_uid=step.series_uid)
    series = series_fetch(
        study_uid=study_uid, series_uid=step.series_uid,
        on_progress=lambda k, n: progress("fetching images", k, n) if k == n or k % 10 == 1 else None,
    )
    if series.modality not in model.modalities:
        raise ModalityMismatch(f"{model.key} takes {', '.join(model.modalities)}, not {series.modality}.")
    base = {**base, "study_uid": study_uid, "sop_instance_uids": series.sop_instance_uids}
    abstention = population_check(
        card.population, series_facts(series=series, birth_date=patient.birth_date, fallback_date=requested_on)
    )
    if abstention is not None:
        return _abstained(model=model, card=card, base=base, abstention=abstention)
    progress("running model", 0, 1)
    try:
        if model.kind == "segmentation":
            return {**base, **_segment(model=model, series=series)}
        return {**base, **_classify(model=model, series=series)}
    except StepFailed:
        raise
    except Exception as exc:
        code = getattr(exc, "code", None)
        if isinstance(code, str):  # the runtime's own errors carry stable codes
            raise StepFailed(str(getattr(exc, "message", exc))[:300], code=code) from exc
        raise


def _segment(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    from inference.runtime.dicom_seg import seg_dicom_from_volume
    from inference.runtime.io import dicom_series_from_datasets
    from inference.runtime.liver import run_liver_seg

    volume = dicom_series_from_datasets(series.datasets)
    volume_hu, spacing = volume.internal()
    labels, findings = run_liver_seg(volume_hu, spacing, model_key=model.key)
    provenance = findings.get("model") or {}
    seg = seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=provenance)
    seg_ref = _seg_store(seg)
    return {"model": provenance, "findings": findings, "seg": seg_ref,
            "explanations": {"uncertainty": [lesion.get("confidence") for lesion in findings.get("lesions", [])]}}


def _seg_store(seg: Any) -> dict[str, Any]:
    """Write the SEG back to the PACS by STOW-RS; the report keeps its UIDs."""
    from inference.analysis.series_fetch import _client

    try:
        _client().store_instances(datasets=[seg])  # type: ignore[attr-defined]
    except Exception as exc:
        from inference.analysis.errors import TransientStepError

        raise TransientStepError("storing the SEG in the PACS failed") from exc
    return {"series_uid": str(seg.SeriesInstanceUID), "sop_instance_uid": str(seg.SOPInstanceUID)}


def _heatmap_data_url(heatmap: np.ndarray | None) -> str | None:
    if heatmap is None:
        return None
    image = Image.fromarray(np.asarray(heatmap, dtype=np.uint8))
    image.thumbnail((HEATMAP_MAX_PX, HEATMAP_MAX_PX))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _classify(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    from inference.runtime.cxr import run_cxr
    from inference.runtime.io import _dicom_image

    images = [_dicom_image(ds) for ds in series.datasets]
    results = run_cxr(model.key, images)
    predictions = []
    for ds, result in zip(series.datasets, results, strict=True):
        predictions.append({
            "series_uid": str(ds.SeriesInstanceUID), "sop_instance_uid": str(ds.SOPInstanceUID),
            "probability": result["calibrated_probability"], "threshold": result["threshold"],
            "positive": result["positive"], "label": result["label"], "probabilities": result["probabilities"],
            "heatmap_ref": _heatmap_data_url(result.get("heatmap")),
        })
    return {"model": results[0]["model"], "findings": {"predictions": predictions},
            # The heatmaps themselves live in the predictions; the explanation names where.
            "explanations": {"heatmaps": [{"sop_instance_uid": p["sop_instance_uid"], "in": "findings.predictions"} for p in predictions]}}

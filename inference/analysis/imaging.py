"""The imaging step: fetch the series by WADO-RS, check the model's population, run the model.

Each model's own work (inference, SEG or other objects back to the PACS, the findings kept)
lives in its runner, ``inference.analysis.runners.<model key>``.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from typing import Any

from inference.analysis.catalog import AnalysisModel
from inference.analysis.errors import StepFailed
from inference.analysis.progress import CountProgress, step_count_publish
from inference.analysis.runners import runner_for
from inference.analysis.series_fetch import FetchedSeries, series_fetch, study_uid_for_series
from inference.eligibility import Abstention, age_years, population_check
from inference.models import AnalysisStep
from inference.registry import ModelCard, model_card_get

Progress = Callable[[str, int, int], None]


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
    runner = runner_for(model.key)
    counted: dict[str, Any] = {}
    if "progress" in inspect.signature(runner).parameters:  # the runner reports its own slices
        counted["progress"] = CountProgress(
            lambda k, n, eta_s: step_count_publish(
                request_id=step.request_id, step_key=step.key, step_name="running model",
                unit="slices", k=k, n=n, eta_s=eta_s,
            ),
            total=len(series.datasets),
        )
    try:
        return {**base, **runner(model=model, series=series, **counted)}
    except StepFailed:
        raise
    except Exception as exc:
        code = getattr(exc, "code", None)
        if isinstance(code, str):  # the runtime's own errors carry stable codes
            raise StepFailed(str(getattr(exc, "message", exc))[:300], code=code) from exc
        raise

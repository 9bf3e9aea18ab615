"""Brain tumour segmentation of an MR study: FLAIR + T1c, with its SEG stored in the PACS.

The analysis step names ONE series (the FLAIR, or the T1c); the model needs both. The partner is
the other role's series in the same study, chosen by SeriesDescription with the keywords of the
card's ``series_roles`` (a FLAIR series names FLAIR; a T1c series names T1 with a contrast word)
and fetched here; the result records which series played which role.
"""

from __future__ import annotations

from typing import Any

import requests
from pydicom.dataset import Dataset

from imaging.dicomweb.client import dicomweb_client_build
from inference.analysis.catalog import AnalysisModel
from inference.analysis.errors import StepFailed, TransientStepError
from inference.analysis.runners.pacs_store import dicom_store
from inference.analysis.series_fetch import FetchedSeries, series_fetch
from inference.registry import model_card_get
from inference.runtime.brain_dicom import seg_dicom_brain_from_volume
from inference.runtime.io import dicom_series_from_datasets

FLAIR, T1C = "FLAIR", "T1c"


class SeriesRoleUnknown(StepFailed):
    code = "series_role_unknown"


class PartnerSeriesMissing(StepFailed):
    code = "partner_series_missing"


def series_role(description: str, roles: dict[str, Any]) -> str | None:
    """FLAIR, T1c or None for a SeriesDescription (FLAIR wins: "T1 FLAIR post" is a FLAIR)."""
    text = description.upper()
    if any(k in text for k in roles.get(FLAIR, {}).get("description_contains", [FLAIR])):
        return FLAIR
    words = roles.get(T1C, {}).get("description_contains", [])
    if "T1" in text and any(k in text for k in words):
        return T1C
    return None


def _study_series(study_uid: str) -> list[tuple[str, str, str]]:
    """(series UID, modality, description) of every series of the study, by QIDO-RS."""
    try:
        found = dicomweb_client_build().search_for_series(study_instance_uid=study_uid)
    except requests.RequestException as exc:
        raise TransientStepError("PACS unreachable") from exc
    out = []
    for item in found:
        ds = Dataset.from_json(item)
        out.append((str(ds.SeriesInstanceUID), str(getattr(ds, "Modality", "") or ""),
                    str(getattr(ds, "SeriesDescription", "") or "")))
    return out


def partner_choose(
    *, chosen_uid: str, chosen_description: str, study_series: list[tuple[str, str, str]], roles: dict[str, Any]
) -> tuple[str, str]:
    """(role of the chosen series, the partner's series UID)."""
    role = series_role(chosen_description, roles)
    if role is None:
        raise SeriesRoleUnknown(
            "Choose the FLAIR (or the post-contrast T1) series: its SeriesDescription names neither.",
            detail={"expects": "a description containing FLAIR, or T1 with a contrast word (POST, GAD, +C, ...)"},
        )
    wanted = T1C if role == FLAIR else FLAIR
    partners = [
        uid for uid, modality, description in study_series
        if uid != chosen_uid and modality == "MR" and series_role(description, roles) == wanted
    ]
    if not partners:
        raise PartnerSeriesMissing(
            f"The study has no {wanted} series to go with the {role}: the model needs both.",
            detail={"needs": [FLAIR, T1C]},
        )
    return role, partners[0]


def _mr_rescale_default(series: FetchedSeries) -> None:
    """MR stores signal directly: no Rescale Slope/Intercept means slope 1, intercept 0 (never so for CT)."""
    for ds in series.datasets:
        if "RescaleSlope" not in ds:
            ds.RescaleSlope = 1
        if "RescaleIntercept" not in ds:
            ds.RescaleIntercept = 0


def run(*, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]:
    from inference.runtime.brain import run_brain_seg  # lazy: torch loads in the worker's first brain step

    card = model_card_get(key=model.key)
    roles = card.data.get("series_roles") or {}
    first = series.datasets[0]
    study_uid, chosen_uid = str(first.StudyInstanceUID), str(first.SeriesInstanceUID)
    role, partner_uid = partner_choose(
        chosen_uid=chosen_uid, chosen_description=str(getattr(first, "SeriesDescription", "") or ""),
        study_series=_study_series(study_uid), roles=roles,
    )
    partner = series_fetch(study_uid=study_uid, series_uid=partner_uid)
    flair_series, t1c_series = (series, partner) if role == FLAIR else (partner, series)
    _mr_rescale_default(flair_series)
    _mr_rescale_default(t1c_series)
    flair = dicom_series_from_datasets(flair_series.datasets)
    t1c = dicom_series_from_datasets(t1c_series.datasets)
    labels, findings = run_brain_seg(flair, t1c, model_key=model.key)
    provenance = findings.get("model") or {}
    seg = seg_dicom_brain_from_volume(labels_zyx=labels, volume=flair, model=provenance)
    findings["series"] = {
        FLAIR: str(flair_series.datasets[0].SeriesInstanceUID),
        T1C: str(t1c_series.datasets[0].SeriesInstanceUID),
        "chosen": role,
        "partner_chosen_by": "SeriesDescription in the same study",
    }
    return {
        "model": provenance,
        "findings": findings,
        "seg": dicom_store(seg),
        # The SEG is on the FLAIR's grid: the viewer overlays it there.
        "series_uid": findings["series"][FLAIR],
        "sop_instance_uids": [str(d.SOPInstanceUID) for d in flair_series.datasets],
        "explanations": {"uncertainty": findings.get("uncertainty")},
    }

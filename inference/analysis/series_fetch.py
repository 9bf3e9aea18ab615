"""Fetch a series from the PACS by WADO-RS and stack it into a volume (no torch here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import requests
from pydicom.dataset import Dataset

from imaging.dicomweb.client import dicomweb_client_build
from imaging.models import ImagingSeries
from inference.analysis.errors import StepFailed, TransientStepError


class SeriesUnusable(StepFailed):
    code = "series_unusable"


@dataclass
class FetchedSeries:
    datasets: list[Dataset]  # sorted along the patient axis for volumes, by instance number otherwise
    modality: str
    sop_instance_uids: list[str]


def _slice_position(ds: Dataset) -> float:
    position = getattr(ds, "ImagePositionPatient", None)
    orientation = getattr(ds, "ImageOrientationPatient", None)
    if position is None or orientation is None:
        return float(getattr(ds, "InstanceNumber", 0) or 0)
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    return float(np.dot(np.cross(row, col), np.array(position, float)))


def series_fetch(
    *, study_uid: str, series_uid: str, on_progress: Callable[[int, int], None] | None = None
) -> FetchedSeries:
    client = dicomweb_client_build()
    try:
        instances = client.search_for_instances(study_instance_uid=study_uid, series_instance_uid=series_uid)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status == 404:
            raise SeriesUnusable("The series is not in the PACS.", code="series_not_in_pacs") from exc
        raise TransientStepError(f"PACS answered {status}") from exc
    except requests.RequestException as exc:
        raise TransientStepError("PACS unreachable") from exc
    sop_uids = [str(Dataset.from_json(item).SOPInstanceUID) for item in instances]
    if not sop_uids:
        raise SeriesUnusable("The series has no instances.", code="series_empty")
    datasets: list[Dataset] = []
    for index, sop_uid in enumerate(sop_uids, start=1):
        try:
            datasets.append(
                client.retrieve_instance(
                    study_instance_uid=study_uid, series_instance_uid=series_uid, sop_instance_uid=sop_uid
                )
            )
        except requests.RequestException as exc:
            raise TransientStepError("PACS transfer failed") from exc
        if on_progress is not None:
            on_progress(index, len(sop_uids))
    modality = str(getattr(datasets[0], "Modality", "") or "")
    if not modality:
        raise SeriesUnusable("The series has no Modality attribute.", code="missing_modality")
    datasets.sort(key=_slice_position)
    return FetchedSeries(datasets=datasets, modality=modality, sop_instance_uids=[str(d.SOPInstanceUID) for d in datasets])


def series_volume_hu(series: FetchedSeries) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A (z, y, x) float32 volume in Hounsfield units and its spacing in mm (z, y, x)."""
    slices = []
    for ds in series.datasets:
        if "PixelData" not in ds:
            raise SeriesUnusable("An instance has no pixel data.", code="missing_pixel_data")
        if "RescaleSlope" not in ds or "RescaleIntercept" not in ds:
            # Never assume slope 1 / intercept 0 for CT: that would invent Hounsfield units.
            raise SeriesUnusable("CT instance lacks RescaleSlope/RescaleIntercept.", code="missing_rescale")
        slices.append(ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept))
    if len({s.shape for s in slices}) != 1:
        raise SeriesUnusable("Slices differ in size.", code="inconsistent_slices")
    volume = np.stack(slices)
    first = series.datasets[0]
    if "PixelSpacing" not in first:
        raise SeriesUnusable("The series lacks PixelSpacing.", code="missing_spacing")
    row_mm, col_mm = (float(v) for v in first.PixelSpacing)
    if len(series.datasets) > 1:
        positions = [_slice_position(d) for d in series.datasets]
        z_mm = float(np.median(np.diff(positions)))
    else:
        z_mm = float(getattr(first, "SliceThickness", 0) or 0)
    if z_mm <= 0:
        raise SeriesUnusable("Cannot determine the slice spacing.", code="missing_spacing")
    return volume, (z_mm, row_mm, col_mm)


def study_uid_for_series(*, series_uid: str) -> str:
    """The study a series belongs to: from our linked records first, else by QIDO-RS."""
    try:
        linked = ImagingSeries.objects.filter(series_instance_uid=series_uid).select_related("study").first()
        if linked is not None:
            return str(linked.study.study_instance_uid)
    except ImportError:  # the imaging app's models are optional for this lookup
        pass
    client = dicomweb_client_build()
    try:
        found = client.search_for_series(search_filters={"SeriesInstanceUID": series_uid})
    except requests.RequestException as exc:
        raise TransientStepError("PACS unreachable") from exc
    if not found:
        raise SeriesUnusable("The series is not in the PACS.", code="series_not_in_pacs")
    return str(Dataset.from_json(found[0]).StudyInstanceUID)

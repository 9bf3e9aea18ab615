"""Writing model output objects (DICOM SEG and the like) back to the PACS."""

from __future__ import annotations

from typing import Any

from imaging.dicomweb.client import dicomweb_client_build
from inference.analysis.errors import TransientStepError


def dicom_store(dataset: Any) -> dict[str, Any]:
    """Store one object by STOW-RS; the report keeps its UIDs."""
    try:
        dicomweb_client_build().store_instances(datasets=[dataset])
    except Exception as exc:
        raise TransientStepError("storing the model's output in the PACS failed") from exc
    return {"series_uid": str(dataset.SeriesInstanceUID), "sop_instance_uid": str(dataset.SOPInstanceUID)}

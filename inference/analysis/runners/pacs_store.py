"""Writing model output objects (DICOM SEG and the like) back to the PACS."""

from __future__ import annotations

from typing import Any

from inference.analysis.errors import TransientStepError
from inference.analysis.series_fetch import archive_client


def dicom_store(dataset: Any) -> dict[str, Any]:
    """Store one object by STOW-RS; the report keeps its UIDs."""
    try:
        archive_client().store_instances(datasets=[dataset])  # type: ignore[attr-defined]
    except Exception as exc:
        raise TransientStepError("storing the model's output in the PACS failed") from exc
    return {"series_uid": str(dataset.SeriesInstanceUID), "sop_instance_uid": str(dataset.SOPInstanceUID)}

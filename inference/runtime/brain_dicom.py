"""DICOM SEG of the brain tumour labels (BraTS 1-4), one segment per label, with SNOMED CT codes.

Built on :mod:`inference.runtime.dicom_seg` (same equipment and algorithm identification) with a
segment list instead of the liver's fixed two segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from inference.registry import ModelInputInvalid
from inference.runtime.dicom_seg import MANUFACTURER, SEG_SOURCE_REQUIRED, seg_build
from inference.runtime.io import DicomAttributeMissing, Volume


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of a label map: the label values it holds, its name and its SNOMED codes."""

    values: tuple[int, ...]
    label: str
    category: Any
    property_type: Any
    tracking_id: str
    anatomic_regions: tuple[Any, ...] = ()


# BraTS labels, one segment each (non-overlapping): 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing.
BRAIN_TUMOUR_SEGMENTS = (
    SegmentSpec((1,), "Necrosis", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Necrosis,
                "brain tumour necrosis", (codes.SCT.Brain,)),
    SegmentSpec((2,), "Peritumoural oedema", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Edema,
                "brain tumour oedema", (codes.SCT.Brain,)),
    SegmentSpec((3,), "Non-enhancing tumour", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm,
                "non-enhancing tumour", (codes.SCT.Brain,)),
    SegmentSpec((4,), "Enhancing tumour", codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm,
                "enhancing tumour", (codes.SCT.Brain,)),
)


def seg_dicom_create_segments(
    *,
    labels_frames: NDArray[np.uint8],
    source_datasets: Sequence[pydicom.Dataset],
    model: dict[str, str],
    segments: Sequence[SegmentSpec],
    content_label: str,
    series_number: int = 903,
) -> pydicom.Dataset:
    """SEG of ``labels_frames`` (one frame per source image, same order) with one segment per spec."""
    if labels_frames.ndim != 3 or labels_frames.shape[0] != len(source_datasets):
        raise ModelInputInvalid("one label frame per source image is required")
    for ds in source_datasets:
        for name in SEG_SOURCE_REQUIRED:
            if ds.get(name) in (None, ""):
                raise DicomAttributeMissing(f"source DICOM attribute {name} missing", detail={"attribute": name})
        if labels_frames.shape[1:] != (int(ds.Rows), int(ds.Columns)):
            raise ModelInputInvalid("label frame size differs from the source image")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=model["key"], family=codes.cid7162.ArtificialIntelligence, version=model["version"], source=MANUFACTURER
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=spec.label,
            segmented_property_category=spec.category,
            segmented_property_type=spec.property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=hd.UID(),
            tracking_id=spec.tracking_id,
            anatomic_regions=list(spec.anatomic_regions) or None,
        )
        for number, spec in enumerate(segments, start=1)
    ]
    pixel = np.stack([np.isin(labels_frames, spec.values) for spec in segments], axis=-1).astype(np.uint8)
    return seg_build(
        source_images=source_datasets, pixel=pixel, segments=descriptions, model=model, series_number=series_number,
        content_label=content_label,
    )


def seg_dicom_brain_from_volume(*, labels_zyx: NDArray[np.uint8], volume: Volume, model: dict[str, Any]) -> pydicom.Dataset:
    """Brain tumour SEG (four segments, BraTS labels 1-4) for labels in the internal order of ``volume``."""
    if not volume.datasets:
        raise ModelInputInvalid("a DICOM SEG needs a DICOM source series")
    frames = volume.from_internal(labels_zyx).transpose(2, 1, 0)
    return seg_dicom_create_segments(
        labels_frames=np.ascontiguousarray(frames, dtype=np.uint8),
        source_datasets=volume.datasets,
        model=model,
        segments=BRAIN_TUMOUR_SEGMENTS,
        content_label="BRAINTUMOURSEG"[:16],
    )

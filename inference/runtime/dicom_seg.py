"""DICOM SEG (labelmap-style binary segments) from a label map and its source CT series (highdicom).

The model's key and version go into the SEG's own equipment attributes (Manufacturer Model Name,
Software Versions, Device Serial Number = the first 16 hex digits of the weights' SHA-256), into
the Contributing Equipment Sequence and into each segment's Algorithm Identification.
Source attributes that a SEG needs and the source lacks fail with ``dicom_attribute_missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from inference.registry import ModelInputInvalid
from inference.runtime.io import INTERNAL_AXCODES, DicomAttributeMissing, Volume

MANUFACTURER = "CDSS (open-source clinical decision support)"
SEG_SOURCE_REQUIRED = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
)


def _segments(model: dict[str, str]) -> list[hd.seg.SegmentDescription]:
    algorithm = hd.AlgorithmIdentificationSequence(
        name=model["key"],
        family=codes.cid7162.ArtificialIntelligence,
        version=model["version"],
        source=MANUFACTURER,
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=1,
            segment_label="Liver",
            segmented_property_category=codes.SCT.Organ,
            segmented_property_type=codes.SCT.Liver,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=hd.UID(),
            tracking_id="liver",
        ),
        hd.seg.SegmentDescription(
            segment_number=2,
            segment_label="Liver lesion",
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=hd.UID(),
            tracking_id="liver lesion",
            anatomic_regions=[codes.SCT.Liver],
        ),
    ]


def seg_dicom_create(
    *,
    labels_frames: NDArray[np.uint8],
    source_datasets: Sequence[pydicom.Dataset],
    model: dict[str, str],
    series_number: int = 901,
) -> pydicom.Dataset:
    """SEG for ``labels_frames`` (one frame per source image, same order, rows x columns; 0/1/2).

    Liver (segment 1) is stored as the liver incl. lesions (labels >= 1) so that the organ outline
    is complete; the lesion segment (2) is labels == 2.
    """
    if labels_frames.ndim != 3 or labels_frames.shape[0] != len(source_datasets):
        raise ModelInputInvalid("one label frame per source image is required")
    for ds in source_datasets:
        for name in SEG_SOURCE_REQUIRED:
            if ds.get(name) in (None, ""):
                raise DicomAttributeMissing(
                    f"source DICOM attribute {name} missing", detail={"attribute": name}
                )
        if labels_frames.shape[1:] != (int(ds.Rows), int(ds.Columns)):
            raise ModelInputInvalid("label frame size differs from the source image")
    pixel = _segments_last([labels_frames >= 1, labels_frames == 2])  # (frames, r, c, segments)
    return seg_build(
        source_images=source_datasets, pixel=pixel, segments=_segments(model), model=model, series_number=series_number,
        content_label="LIVERSEG", made_by="segmentation", artefact="weights",
    )


def seg_dicom_from_volume(
    *, labels_zyx: NDArray[np.uint8], volume: Volume, model: dict[str, Any]
) -> pydicom.Dataset:
    """SEG for labels in the internal (z, y, x) order of ``volume`` (read from DICOM)."""
    if not volume.datasets:
        raise ModelInputInvalid("a DICOM SEG needs a DICOM source series")
    return seg_dicom_create(
        labels_frames=frames_from_internal(labels_zyx, volume=volume).astype(np.uint8, copy=False),
        source_datasets=volume.datasets,
        model=model,
    )


def seg_dicom_nodules_from_volume(
    *, labels_zyx: NDArray[np.integer[Any]], volume: Volume, model: dict[str, Any], series_number: int = 902
) -> pydicom.Dataset:
    """SEG of lung nodules: one segment per nodule (label n -> segment n, "Lung nodule n")."""
    if not volume.datasets:
        raise ModelInputInvalid("a DICOM SEG needs a DICOM source series")
    frames = frames_from_internal(labels_zyx, volume=volume)
    for ds in volume.datasets:
        for name in SEG_SOURCE_REQUIRED:
            if ds.get(name) in (None, ""):
                raise DicomAttributeMissing(f"source DICOM attribute {name} missing", detail={"attribute": name})
    ids = [int(v) for v in np.unique(frames) if v > 0]
    algorithm = hd.AlgorithmIdentificationSequence(
        name=model["key"], family=codes.cid7162.ArtificialIntelligence, version=model["version"], source=MANUFACTURER
    )
    # a SEG needs at least one segment: an empty result is stored as an empty nodule segment
    numbers = ids or [1]
    segments = [
        hd.seg.SegmentDescription(
            segment_number=i + 1,
            segment_label=f"Lung nodule {n}",
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Nodule,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=hd.UID(),
            tracking_id=f"nodule {n}",
            anatomic_regions=[codes.SCT.Lung],
        )
        for i, n in enumerate(numbers)
    ]
    pixel = _segments_last([frames == n for n in numbers])
    return seg_build(
        source_images=volume.datasets, pixel=pixel, segments=segments, model=model, series_number=series_number,
        content_label="NODULESEG", made_by="detection", artefact="parameters",
    )


def frames_from_internal(labels_zyx: NDArray[Any], *, volume: Volume) -> NDArray[Any]:
    """Internal (z, y, x) labels as the source series' frames (slice k, row j, column i):
    ``volume.from_internal(labels_zyx).transpose(2, 1, 0)``, made of views (axis swaps and flips)
    and one copy. Through ``from_internal``'s (i, j, k) array the 512 x 512 x 150 labels were
    copied twice across the cache, for seconds."""
    inv = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(INTERNAL_AXCODES), nib.orientations.io_orientation(volume.affine_ras)
    )
    ijk = nib.orientations.apply_orientation(labels_zyx.transpose(2, 1, 0), inv)
    return np.ascontiguousarray(ijk.transpose(2, 1, 0))


def _segments_last(masks: list[NDArray[np.bool_]]) -> NDArray[np.uint8]:
    """(frames, rows, columns, segments) uint8 from one (frames, rows, columns) mask per segment,
    each segment's frames contiguous in memory: highdicom reads the array one segment's frame at a
    time and sums over the segments to find overlaps, both faster on this layout."""
    return np.moveaxis(np.stack(masks, axis=0).view(np.uint8), 0, -1)


def seg_build(
    *, source_images: Any, pixel: NDArray[np.uint8], segments: list[hd.seg.SegmentDescription], model: dict[str, Any],
    series_number: int, content_label: str, made_by: str = "segmentation", artefact: str = "weights",
) -> pydicom.Dataset:
    """A binary DICOM SEG of ``pixel`` (frames, rows, columns, segments) that names the model
    (key, version, artefact hash) as its equipment; every model's SEG is made here."""
    equipment = hd.ContributingEquipment(
        manufacturer=MANUFACTURER,
        purpose_of_reference=codes.DCM.ProcessingEquipment,
        manufacturer_model_name=model["key"],
        software_versions=model["version"],
        device_serial_number=model["weights_sha256"][:16],
        contribution_description=f"{made_by} by model {model['key']} {model['version']} ({artefact} sha256 {model['weights_sha256']})",
    )
    try:
        return hd.seg.Segmentation(
            source_images=source_images,
            pixel_array=pixel,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=segments,
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=model["key"],
            software_versions=model["version"],
            device_serial_number=model["weights_sha256"][:16],
            content_description=f"{model['key']} {model['version']}"[:64],
            content_label=content_label,
            contributing_equipment=[equipment],
            omit_empty_frames=True,
        )
    except (AttributeError, KeyError) as exc:
        raise DicomAttributeMissing(
            "source series lacks an attribute a SEG needs", detail={"error": str(exc)[:200]}
        ) from exc

"""Import a NIfTI volume onto the geometry of a reference DICOM series already in the PACS.

Two outputs, chosen by ``kind`` (``auto`` decides by the data: integers with at most 255
distinct values are a label map):

- ``seg``: a DICOM Segmentation (highdicom, BINARY, one segment per label present) whose frames
  reference the reference series' instances, e.g. an organ segmentation made elsewhere;
- ``image``: a new derived series of single-frame instances, one per reference slice, with the
  reference's geometry, patient and study, and the NIfTI's values (16-bit with a rescale).

Either way the NIfTI is resampled onto the reference grid (voxel centres: reference pixel ->
patient LPS -> NIfTI RAS -> NIfTI voxel via the inverse affine; nearest neighbour for labels,
linear for images), so a NIfTI in another orientation or resolution still lands correctly.
The new objects then go through the same validation and STOW-RS path as any upload.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from scipy.ndimage import map_coordinates

from cdss.core.errors import NotFound, ValidationFailed
from imaging.dicom_files import dataset_save
from imaging.dicomweb.client import dicomweb_client_build
from imaging.models import ImagingSeries, LinkSource
from imaging.services import UploadReport, UploadSource, imaging_upload
from patients.models import Patient

SOFTWARE = "CDSS import_dicom"
_COPIED = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "StudyDescription", "AccessionNumber",
    "ReferringPhysicianName", "FrameOfReferenceUID", "PositionReferenceIndicator", "Modality",
    "BodyPartExamined", "PatientPosition", "SliceThickness", "SpecificCharacterSet",
)


_TYPE2 = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "AccessionNumber",
)


class NiftiImportFailed(ValidationFailed):
    code = "nifti_import_failed"


@dataclass(frozen=True)
class ReferenceSlice:
    dataset: Dataset
    position: np.ndarray  # ImagePositionPatient, LPS mm
    row_dir: np.ndarray  # direction of increasing column index
    col_dir: np.ndarray  # direction of increasing row index
    spacing: tuple[float, float]  # (between rows, between columns) mm
    shape: tuple[int, int]  # (rows, columns)


def labels_read(path: Path) -> dict[int, str]:
    """``index,name`` per line (a header line is skipped); 0 is background."""
    labels: dict[int, str] = {}
    with path.open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[0].strip().isdigit():
                labels[int(row[0])] = row[1].strip()[:64]
    return labels


def _reference_slices(*, study_uid: str, series_uid: str) -> list[ReferenceSlice]:
    client = dicomweb_client_build()
    items = client.retrieve_series_metadata(study_instance_uid=study_uid, series_instance_uid=series_uid)

    def no_bulk(*_args: Any) -> bytes:
        return b""  # the reference's pixels are not needed, only its header

    slices = []
    for item in items:
        ds = Dataset.from_json(item, bulk_data_uri_handler=no_bulk)
        for keyword in _TYPE2:
            # Type 2 (may be empty, must be present) in what highdicom copies; some sources omit them.
            if keyword not in ds:
                setattr(ds, keyword, "")
        if int(ds.get("NumberOfFrames", 1) or 1) != 1:
            raise NiftiImportFailed("The reference series must be single-frame images.")
        try:
            orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
            slices.append(ReferenceSlice(
                dataset=ds,
                position=np.asarray(ds.ImagePositionPatient, dtype=float),
                row_dir=orientation[:3], col_dir=orientation[3:],
                spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
                shape=(int(ds.Rows), int(ds.Columns)),
            ))
        except (AttributeError, ValueError, IndexError) as exc:
            raise NiftiImportFailed("A reference instance lacks its geometry (position, orientation, spacing).") from exc
    if not slices:
        raise NiftiImportFailed("The reference series has no instances.")
    first = slices[0]
    for other in slices[1:]:
        if (other.shape != first.shape or not np.allclose(other.row_dir, first.row_dir, atol=1e-4)
                or not np.allclose(other.col_dir, first.col_dir, atol=1e-4)
                or not np.allclose(other.spacing, first.spacing, atol=1e-4)):
            raise NiftiImportFailed("The reference slices do not share one grid.")
    normal = np.cross(first.row_dir, first.col_dir)
    ordered = sorted(slices, key=lambda s: float(np.dot(normal, s.position)))
    if len(ordered) > 1:
        gap = float(np.median(np.diff([np.dot(normal, s.position) for s in ordered])))
        for ref in ordered:
            if "SliceThickness" not in ref.dataset and gap > 0:
                # The SEG's pixel measures need it; the slice spacing stands in when it is absent.
                ref.dataset.SliceThickness = f"{gap:.6g}"
    return ordered


def nifti_resample(*, data: np.ndarray, affine: np.ndarray, slices: Sequence[ReferenceSlice], labels: bool) -> np.ndarray:
    """The NIfTI's values at the reference voxel centres: (slices, rows, columns)."""
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise NiftiImportFailed("Only 3-D volumes can be imported.")
    inverse = np.linalg.inv(affine)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    rows, columns = slices[0].shape
    r = np.arange(rows, dtype=float)
    c = np.arange(columns, dtype=float)
    out = np.zeros((len(slices), rows, columns), dtype=data.dtype if labels else np.float32)
    source = data if labels else data.astype(np.float32, copy=False)
    for k, ref in enumerate(slices):
        origin = inverse[:3, :3] @ (lps_to_ras @ ref.position) + inverse[:3, 3]
        step_r = inverse[:3, :3] @ (lps_to_ras @ (ref.spacing[0] * ref.col_dir))
        step_c = inverse[:3, :3] @ (lps_to_ras @ (ref.spacing[1] * ref.row_dir))
        coords = origin[:, None, None] + step_r[:, None, None] * r[None, :, None] + step_c[:, None, None] * c[None, None, :]
        out[k] = map_coordinates(source, coords, order=0 if labels else 1, mode="constant", cval=0)
    return out


def _seg_write(*, volume: np.ndarray, slices: Sequence[ReferenceSlice], names: dict[int, str], algorithm: str | None,
               description: str, dest: Path) -> int:
    present = [int(v) for v in np.unique(volume) if v != 0]
    if not present:
        raise NiftiImportFailed("The label map is empty on the reference grid.")
    if len(present) > 255:
        raise NiftiImportFailed("Too many labels for one segmentation.")
    remap = np.zeros(int(max(present)) + 1, dtype=np.uint8)
    for number, value in enumerate(present, start=1):
        remap[value] = number
    labelmap = remap[volume.astype(np.int64)]
    identification = (
        hd.AlgorithmIdentificationSequence(name=algorithm[:64], family=codes.cid7162.ArtificialIntelligence, version="unknown")
        if algorithm else None
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=names.get(value, f"label {value}"),
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=codes.SCT.Organ,
            algorithm_type="AUTOMATIC" if algorithm else "MANUAL",
            algorithm_identification=identification,
        )
        for number, value in enumerate(present, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[s.dataset for s in slices],
        pixel_array=labelmap,
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=900,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="CDSS",
        manufacturer_model_name="import_dicom",
        software_versions=SOFTWARE,
        device_serial_number="none",
        series_description=description[:64] if description else None,
    )
    seg.save_as(dest, enforce_file_format=True)
    return len(present)


def _image_series_write(*, volume: np.ndarray, slices: Sequence[ReferenceSlice], description: str, workdir: Path) -> list[Path]:
    finite = volume[np.isfinite(volume)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    integral = bool(np.all(np.mod(finite, 1) == 0)) and low >= -32768 and high <= 32767
    slope = 1.0 if integral or high == low else (high - low) / 65535.0
    intercept = 0.0 if integral or high == low else low + 32768.0 * slope
    window = np.percentile(finite, [1, 99]) if finite.size else np.array([0.0, 1.0])
    series_uid = generate_uid()
    now = dt.datetime.now(dt.UTC)
    paths = []
    for number, ref in enumerate(slices, start=1):
        source = ref.dataset
        ds = Dataset()
        for keyword in _COPIED:
            element = source.data_element(keyword) if keyword in source else None
            if element is not None:
                setattr(ds, keyword, element.value)
        ds.SOPClassUID = source.SOPClassUID
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 901
        ds.SeriesDescription = (description or "Imported from NIfTI")[:64]
        ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
        ds.InstanceNumber = number
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.DerivationDescription = "Resampled from a NIfTI volume onto this series' reference geometry"
        ds.ImagePositionPatient = [float(v) for v in ref.position]
        ds.ImageOrientationPatient = [float(v) for v in (*ref.row_dir, *ref.col_dir)]
        ds.PixelSpacing = list(ref.spacing)
        ds.Rows, ds.Columns = ref.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        ds.WindowCenter, ds.WindowWidth = f"{(window[0] + window[1]) / 2:.6g}", f"{max(window[1] - window[0], 1e-6):.6g}"
        ds.ReferencedImageSequence = [Dataset()]
        ds.ReferencedImageSequence[0].ReferencedSOPClassUID = source.SOPClassUID
        ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = source.SOPInstanceUID
        stored = np.nan_to_num(volume[number - 1], nan=low)
        ds.PixelData = np.clip(np.rint((stored - intercept) / slope), -32768, 32767).astype("<i2").tobytes()
        path = workdir / f"image-{number:05d}.dcm"
        dataset_save(ds, path)
        paths.append(path)
    return paths


def nifti_import(
    *,
    path: Path,
    patient: Patient,
    reference_series_uid: str,
    kind: str = "auto",
    labels: dict[int, str] | None = None,
    algorithm: str | None = None,
    description: str = "",
    actor: Any = None,
) -> tuple[str, UploadReport]:
    """Resample, write SEG or image instances, and send them like an upload. Returns (kind, report)."""
    series = ImagingSeries.objects.filter(series_instance_uid=reference_series_uid, study__patient=patient).select_related("study").first()
    if series is None:
        raise NotFound("The reference series is not linked to this patient.", code="series_not_found")
    try:
        image: Any = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for unreadable files
        raise NiftiImportFailed("The NIfTI file cannot be read.") from exc
    if kind == "auto":
        kind = "seg" if np.issubdtype(data.dtype, np.integer) and len(np.unique(data)) <= 256 else "image"
    if kind not in ("seg", "image"):
        raise NiftiImportFailed("kind must be seg, image or auto.")
    slices = _reference_slices(study_uid=series.study.study_instance_uid, series_uid=reference_series_uid)
    volume = nifti_resample(data=data, affine=image.affine, slices=slices, labels=kind == "seg")
    with tempfile.TemporaryDirectory(prefix="cdss-nifti-") as tmp:
        workdir = Path(tmp)
        if kind == "seg":
            dest = workdir / "segmentation.dcm"
            _seg_write(volume=volume, slices=slices, names=labels or {}, algorithm=algorithm, description=description, dest=dest)
            written = [dest]
        else:
            written = _image_series_write(volume=volume, slices=slices, description=description, workdir=workdir)
        report = imaging_upload(
            actor=actor, patient=patient, sources=[UploadSource(name=p.name, path=p) for p in written],
            confirm_relink=series.study.mismatch_confirmed, link_source=LinkSource.IMPORT,
        )
    return kind, report

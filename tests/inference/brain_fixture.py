"""A synthetic brain MR case (FLAIR + T1c) with a spherical "glioma", made in the test.

No data set is needed: an ellipsoid head with grey/white-like texture, and on the patient's LEFT a
tumour with an oedema shell (bright on FLAIR), an enhancing rim (bright on T1c) and a necrotic core
(dark on T1c). Written as NIfTI (for ``run_model``) or as two DICOM MR series of one study (for
the pipeline). Intensities are raw-scanner-like (background near 0), not z-scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

SHAPE_ZYX = (28, 88, 76)
SPACING_ZYX = (5.0, 2.5, 2.5)
TUMOUR_RADII_MM = {"necrosis": 7.0, "enhancing": 11.0, "oedema": 20.0}


def _grid_mm() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    z, y, x = (np.arange(n) * s for n, s in zip(SHAPE_ZYX, SPACING_ZYX, strict=True))
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    return zz - zz.mean(), yy - yy.mean(), xx - xx.mean()


def synthetic_case(seed: int = 0) -> dict[str, Any]:
    """Internal (z, y, x) arrays (x towards the patient's left), the truth labels and the spacing."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = _grid_mm()
    head = (xx / 70) ** 2 + (yy / 88) ** 2 + (zz / 62) ** 2 <= 1.0
    centre = np.array([5.0, -10.0, 30.0])  # mm from the middle: x > 0 is the patient's left
    r = np.sqrt((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2)
    labels = np.zeros(SHAPE_ZYX, dtype=np.uint8)
    labels[(r <= TUMOUR_RADII_MM["oedema"]) & head] = 2
    labels[r <= TUMOUR_RADII_MM["enhancing"]] = 4
    labels[r <= TUMOUR_RADII_MM["necrosis"]] = 1
    texture = rng.normal(0, 8, SHAPE_ZYX)
    flair = np.where(head, 300 + texture, rng.normal(5, 2, SHAPE_ZYX))
    t1c = np.where(head, 400 + texture, rng.normal(5, 2, SHAPE_ZYX))
    flair[labels == 2] += 250
    flair[labels == 4] += 200
    flair[labels == 1] += 150
    t1c[labels == 4] += 350
    t1c[labels == 1] -= 250
    return {
        "flair": np.clip(flair, 0, 4000).astype(np.float32),
        "t1c": np.clip(t1c, 0, 4000).astype(np.float32),
        "labels": labels,
        "spacing": SPACING_ZYX,
        "head": head,
    }


def nifti_case_write(folder: Path, *, seed: int = 0, t1c_other_grid: bool = True) -> dict[str, Any]:
    """``Flair_synthetic.nii.gz`` in RAS order (i towards the patient's right) and ``T1c_synthetic.nii.gz``,
    on a shifted, finer grid when ``t1c_other_grid`` (so the runtime must resample it)."""
    case = synthetic_case(seed)
    folder.mkdir(parents=True, exist_ok=True)
    dz, dy, dx = SPACING_ZYX
    nz, ny, nx = SHAPE_ZYX
    # internal (z, y, x) with x to the left and y posterior -> RAS voxel order (i right, j anterior, k up)
    def to_ras(a: NDArray[Any]) -> NDArray[Any]:
        return np.ascontiguousarray(a.transpose(2, 1, 0)[::-1, ::-1, :])

    affine = np.array([[dx, 0, 0, -dx * (nx - 1) / 2], [0, dy, 0, -dy * (ny - 1) / 2], [0, 0, dz, 10.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(to_ras(case["flair"]), affine), str(folder / "Flair_synthetic.nii.gz"))
    if t1c_other_grid:
        # the same anatomy sampled at half the slice spacing: every other T1c slice is a FLAIR slice
        t1c_ras = to_ras(case["t1c"])
        fine = np.repeat(t1c_ras, 2, axis=2)[:, :, : 2 * nz - 1]
        fine_affine = affine.copy()
        fine_affine[2, 2] = dz / 2
        nib.save(nib.Nifti1Image(fine, fine_affine), str(folder / "T1c_synthetic.nii.gz"))
    else:
        nib.save(nib.Nifti1Image(to_ras(case["t1c"]), affine), str(folder / "T1c_synthetic.nii.gz"))
    case["affine"] = affine
    return case


def _mr_slice(
    *, pixels: NDArray[np.uint16], k: int, study: str, series: str, frame: str, patient_id: str,
    description: str, series_number: int,
) -> Dataset:
    dz, dy, dx = SPACING_ZYX
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Brain"
    ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
    ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "101500", "1", "", ""
    ds.Manufacturer = "Synthetic"
    ds.Modality = "MR"
    ds.BodyPartExamined = "BRAIN"
    ds.StudyDate = "20250102"
    ds.StudyDescription = "MRI brain with contrast (synthetic)"
    ds.SeriesDescription = description
    ds.SeriesNumber = series_number
    ds.InstanceNumber = k + 1
    # LPS: rows run towards the patient's left (+x), columns posterior (+y), slices superior (+z)
    ds.ImagePositionPatient = [-dx * (pixels.shape[1] - 1) / 2, -dy * (pixels.shape[0] - 1) / 2, 10.0 + k * dz]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [dy, dx]
    ds.SliceThickness = dz
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    return ds


def dicom_study(*, patient_id: str, seed: int = 0) -> dict[str, Any]:
    """Two MR series of one study ("AX FLAIR", "AX T1 POST GAD"), one frame of reference; no rescale
    attributes (as many MR series)."""
    case = synthetic_case(seed)
    study, frame = generate_uid(), generate_uid()
    out: dict[str, Any] = {"study_uid": study, "case": case}
    for name, description, number in (("flair", "AX FLAIR", 3), ("t1c", "AX T1 POST GAD", 7)):
        series = generate_uid()
        volume = np.rint(case[name]).astype(np.uint16)
        out[name] = [
            _mr_slice(pixels=volume[k], k=k, study=study, series=series, frame=frame, patient_id=patient_id,
                      description=description, series_number=number)
            for k in range(SHAPE_ZYX[0])
        ]
        out[f"{name}_series_uid"] = series
    return out

"""Reading model inputs and writing label maps. Numpy, nibabel, pynrrd, pydicom; no torch.

Volumes: a DICOM series folder, a NIfTI file or an NRRD file is read into its original voxel
grid (i, j, k) with a RAS affine, then reoriented to the internal order the models were trained
in: array (z, y, x) with x towards patient left, y towards posterior, z towards superior (the
array order of an axial DICOM series with identity orientation). Label maps go back through the
inverse reorientation, so ``labels.nii.gz`` has the input's own grid and affine.

Missing DICOM attributes fail with ``dicom_attribute_missing``; nothing is defaulted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import nrrd
import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image

from cdss.core.errors import CdssError
from inference.registry import ModelInputInvalid

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INTERNAL_AXCODES = ("L", "P", "S")
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class DicomAttributeMissing(ModelInputInvalid):
    code = "dicom_attribute_missing"


@dataclass
class Volume:
    """A scalar volume in its original voxel grid plus what is needed to go to and from the internal order."""

    data_ijk: NDArray[Any]
    affine_ras: NDArray[np.float64]
    kind: str
    datasets: list[pydicom.Dataset] = field(default_factory=list)

    def _transform(self) -> NDArray[Any]:
        ornt = nib.orientations.io_orientation(self.affine_ras)
        return nib.orientations.ornt_transform(ornt, nib.orientations.axcodes2ornt(INTERNAL_AXCODES))

    def internal(self) -> tuple[NDArray[Any], tuple[float, float, float]]:
        """(z, y, x) array in the internal orientation and its spacing (dz, dy, dx) in mm."""
        t = self._transform()
        lps = nib.orientations.apply_orientation(self.data_ijk, t)
        zooms = np.sqrt((self.affine_ras[:3, :3] ** 2).sum(axis=0))
        new = np.zeros(3)
        for axis in range(3):
            new[int(t[axis, 0])] = zooms[axis]
        return np.ascontiguousarray(lps.transpose(2, 1, 0)), (float(new[2]), float(new[1]), float(new[0]))

    def from_internal(self, labels_zyx: NDArray[Any]) -> NDArray[Any]:
        """Inverse of :meth:`internal` for a label map (back to the original i, j, k grid)."""
        inv = nib.orientations.ornt_transform(
            nib.orientations.axcodes2ornt(INTERNAL_AXCODES), nib.orientations.io_orientation(self.affine_ras)
        )
        out = nib.orientations.apply_orientation(labels_zyx.transpose(2, 1, 0), inv)
        return np.ascontiguousarray(out)


def _require(ds: pydicom.Dataset, name: str) -> Any:
    value = ds.get(name)
    if value is None or value == "":
        raise DicomAttributeMissing(f"DICOM attribute {name} missing", detail={"attribute": name})
    return value


def dicom_files(folder: Path) -> list[Path]:
    """Files in ``folder`` (recursively) that parse as DICOM."""
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        try:
            pydicom.dcmread(p, stop_before_pixels=True)
        except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError):
            continue
        out.append(p)
    return out


def dicom_series_from_datasets(datasets: Sequence[pydicom.Dataset]) -> Volume:
    """Sort one CT series by slice position; HU via RescaleSlope/Intercept; RAS affine from the geometry."""
    if not datasets:
        raise ModelInputInvalid("no DICOM images")
    series = {str(_require(ds, "SeriesInstanceUID")) for ds in datasets}
    if len(series) != 1:
        raise ModelInputInvalid("more than one series given", detail={"series": len(series)})
    iop = np.array([float(v) for v in _require(datasets[0], "ImageOrientationPatient")])
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    positions = [np.array([float(v) for v in _require(ds, "ImagePositionPatient")]) for ds in datasets]
    order = np.argsort([float(p @ normal) for p in positions])
    ordered = [datasets[i] for i in order]
    positions = [positions[i] for i in order]
    dy, dx = (float(v) for v in _require(ordered[0], "PixelSpacing"))
    if len(ordered) > 1:
        gaps = np.diff([float(p @ normal) for p in positions])
        dz = float(np.median(gaps))
        if dz <= 0 or np.max(np.abs(gaps - dz)) > 0.05 * dz + 1e-3:
            raise ModelInputInvalid(
                "slices are not evenly spaced (or duplicated)",
                detail={"min_gap": float(gaps.min()), "max_gap": float(gaps.max())},
            )
    else:
        dz = float(_require(ordered[0], "SliceThickness"))
    slices = []
    for ds in ordered:
        slope = float(_require(ds, "RescaleSlope"))
        intercept = float(_require(ds, "RescaleIntercept"))
        try:
            pixels = ds.pixel_array
        except Exception as exc:  # decoder missing or broken pixel data: a stable code, not a crash
            raise ModelInputInvalid(
                "cannot decode DICOM pixel data", code="dicom_pixels_undecodable"
            ) from exc
        slices.append((pixels.astype(np.float32) * slope + intercept).astype(np.float32))
    # voxel (i=column, j=row, k=slice) -> LPS
    m = np.eye(4)
    m[:3, 0] = row_cos * dx
    m[:3, 1] = col_cos * dy
    m[:3, 2] = normal * dz
    m[:3, 3] = positions[0]
    data_ijk = np.stack(slices).transpose(2, 1, 0)
    return Volume(data_ijk=data_ijk, affine_ras=_LPS_TO_RAS @ m, kind="dicom", datasets=ordered)


def dicom_series_read(folder: Path) -> Volume:
    files = dicom_files(folder)
    if not files:
        raise ModelInputInvalid("folder holds no DICOM files", detail={"input": folder.name})
    return dicom_series_from_datasets([pydicom.dcmread(p) for p in files])


def nifti_read(path: Path) -> Volume:
    img = nib.load(str(path))
    data = np.asarray(img.dataobj, dtype=np.float32)  # type: ignore[attr-defined]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ModelInputInvalid("expected a 3D volume", detail={"shape": list(data.shape)})
    return Volume(data_ijk=data, affine_ras=np.asarray(img.affine, dtype=np.float64), kind="nifti")  # type: ignore[attr-defined]


def nrrd_read(path: Path) -> Volume:
    data, header = nrrd.read(str(path))
    if data.ndim != 3:
        raise ModelInputInvalid("expected a 3D NRRD volume", detail={"shape": list(data.shape)})
    space = str(header.get("space", "")).lower()
    directions = header.get("space directions")
    if directions is None or space not in (
        "left-posterior-superior",
        "right-anterior-superior",
        "lps",
        "ras",
    ):
        raise ModelInputInvalid(
            "NRRD needs 'space' (LPS or RAS) and 'space directions'", code="nrrd_geometry_missing"
        )
    m = np.eye(4)
    m[:3, :3] = np.asarray(directions, dtype=np.float64).T
    m[:3, 3] = np.asarray(header.get("space origin", [0, 0, 0]), dtype=np.float64)
    affine = _LPS_TO_RAS @ m if space in ("left-posterior-superior", "lps") else m
    return Volume(data_ijk=np.asarray(data, dtype=np.float32), affine_ras=affine, kind="nrrd")


def volume_read(path: Path) -> Volume:
    """A DICOM series folder, NIfTI (.nii, .nii.gz), NRRD (.nrrd) or .npz (``images`` (z, y, x) + ``spacing``)."""
    name = path.name.lower()
    if path.is_dir():
        return dicom_series_read(path)
    if name.endswith((".nii", ".nii.gz")):
        return nifti_read(path)
    if name.endswith(".nrrd"):
        return nrrd_read(path)
    if name.endswith(".npz"):
        with np.load(path) as z:
            if "images" not in z.files or "spacing" not in z.files:
                raise ModelInputInvalid(
                    "volume .npz needs 'images' (z, y, x) in HU and 'spacing' (dz, dy, dx) mm"
                )
            zyx = np.asarray(z["images"], dtype=np.float32)
            dz, dy, dx = (float(v) for v in z["spacing"])
        if zyx.ndim != 3:
            raise ModelInputInvalid("expected a 3D volume", detail={"shape": list(zyx.shape)})
        affine = _LPS_TO_RAS @ np.diag([dx, dy, dz, 1.0])
        return Volume(data_ijk=zyx.transpose(2, 1, 0), affine_ras=affine, kind="npz")
    raise ModelInputInvalid("unsupported volume input", detail={"input": path.name})


def labels_nifti_write(*, volume: Volume, labels_zyx: NDArray[np.uint8], path: Path) -> None:
    """Write a uint8 label map in the input's own grid and affine."""
    data = volume.from_internal(labels_zyx).astype(np.uint8)
    img = nib.Nifti1Image(data, volume.affine_ras)
    img.set_sform(volume.affine_ras, code=2 if volume.kind == "dicom" else 1)
    img.set_qform(volume.affine_ras, code=1)
    img.header.set_data_dtype(np.uint8)
    nib.save(img, str(path))


def images_read(path: Path) -> list[tuple[str, NDArray[Any]]]:
    """2D images with their names, in input order: a PNG/JPEG file, a folder of them (sorted by
    name), a folder of DICOM images, or an .npz whose ``images`` array is (N, H, W) or (N, H, W, C)."""
    name = path.name.lower()
    if path.is_file() and name.endswith(IMAGE_SUFFIXES):
        return [(path.name, _image_file(path))]
    if path.is_file() and name.endswith(".npz"):
        with np.load(path) as z:
            if "images" not in z.files:
                raise ModelInputInvalid("image .npz needs an 'images' array")
            arr = np.asarray(z["images"])
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim not in (3, 4):
            raise ModelInputInvalid(
                "'images' must be (N, H, W) or (N, H, W, C)", detail={"shape": list(arr.shape)}
            )
        return [(f"{path.stem}[{i}]", arr[i]) for i in range(arr.shape[0])]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
        if files:
            return [(p.name, _image_file(p)) for p in files]
        dicoms = dicom_files(path)
        if dicoms:
            return [(p.name, dicom_image(pydicom.dcmread(p))) for p in dicoms]
        raise ModelInputInvalid("folder holds no PNG, JPEG or DICOM images", detail={"input": path.name})
    raise ModelInputInvalid("unsupported image input", detail={"input": path.name})


def _image_file(path: Path) -> NDArray[Any]:
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I"):
                return np.asarray(im, dtype=np.int32)
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except OSError as exc:
        raise ModelInputInvalid("cannot decode image", detail={"input": path.name}) from exc


def dicom_image(ds: pydicom.Dataset) -> NDArray[Any]:
    photometric = str(_require(ds, "PhotometricInterpretation"))
    arr = ds.pixel_array.astype(np.float32)
    if arr.ndim != 2:
        raise ModelInputInvalid("expected a single-frame grey DICOM image")
    if photometric == "MONOCHROME1":
        arr = arr.max() - arr
    return arr


def seg_file_write(
    *, volume: Volume, build: Callable[[], pydicom.Dataset], out_dir: Path, findings: dict[str, Any], outputs: list[str]
) -> None:
    """For DICOM input: the SEG that ``build`` makes, written to ``out_dir/seg.dcm`` and added to
    ``outputs``. ``findings["dicom_seg"]`` says whether it was written; when it was not (a
    ``CdssError``), the labels stand and the findings say why."""
    if volume.kind != "dicom":
        return
    try:
        seg = build()
        seg.save_as(out_dir / "seg.dcm")
        findings["dicom_seg"] = {"written": True, "series_instance_uid": str(seg.SeriesInstanceUID)}
        outputs.append("seg.dcm")
    except CdssError as exc:
        findings["dicom_seg"] = {"written": False, "code": exc.code, "message": exc.message, "detail": exc.detail}

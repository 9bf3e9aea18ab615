"""``manage.py run_model`` round trips for every input kind."""

from __future__ import annotations

import csv
import json
import shutil
from io import StringIO
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from tests.inference.data.synthetic import ct_series_datasets, ct_series_write, phantom_hu

CXR = Path(__file__).resolve().parents[1] / "data" / "cxr"


def _run(model: str, src: Path, out: Path, *extra: str) -> dict:
    buf = StringIO()
    call_command("run_model", model, "-i", str(src), "-o", str(out), "--quiet", *extra, stdout=buf)
    return json.loads(buf.getvalue())


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "predictions.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_cxr_png_folder(tmp_path: Path) -> None:
    summary = _run("cxr_pneumonia", CXR, tmp_path / "out")
    rows = _rows(tmp_path / "out")
    assert [r["file"] for r in rows] == sorted(p.name for p in CXR.glob("*.png"))
    assert summary["images"] == 10 and summary["model"]["key"] == "cxr_pneumonia"
    for r in rows:
        assert float(r["probability_NORMAL"]) + float(r["probability_PNEUMONIA"]) == pytest.approx(
            1.0, abs=1e-5
        )
        with Image.open(tmp_path / "out" / r["heatmap"]) as im:
            assert im.size == (224, 224) and im.mode == "RGB"


def test_cxr_single_jpeg_and_npz(tmp_path: Path) -> None:
    first = sorted(CXR.glob("*.png"))[0]
    with Image.open(first) as im:
        grey = np.asarray(im)
        im.save(tmp_path / "one.jpg", quality=95)
    _run("cxr_pneumonia", tmp_path / "one.jpg", tmp_path / "a")
    assert [r["file"] for r in _rows(tmp_path / "a")] == ["one.jpg"]
    np.savez(tmp_path / "batch.npz", images=np.stack([grey, grey[::-1]]))
    _run("cxr_pneumonia", tmp_path / "batch.npz", tmp_path / "b")
    rows = _rows(tmp_path / "b")
    assert [r["file"] for r in rows] == ["batch[0]", "batch[1]"]
    assert len(list((tmp_path / "b" / "heatmaps").glob("*.png"))) == 2


def _check_seg_outputs(out: Path, *, shape: tuple[int, ...], affine: np.ndarray) -> dict:
    img = nib.load(str(out / "labels.nii.gz"))
    assert isinstance(img, nib.Nifti1Image)
    assert img.shape == shape
    np.testing.assert_allclose(img.affine, affine, atol=1e-4)
    data = np.asarray(img.dataobj)
    assert data.dtype == np.uint8 and set(np.unique(data)) <= {0, 1, 2}
    findings = json.loads((out / "findings.json").read_text())
    assert findings["model"]["key"] == "liver_ct_seg"
    assert findings["lesion_count"] == len(findings["lesions"])
    assert findings["liver"]["volume"]["unit"] == "mL"
    return findings


def test_liver_dicom_folder_writes_nifti_and_seg(tmp_path: Path) -> None:
    hu = phantom_hu(nz=3, ny=40, nx=48)
    ct_series_write(tmp_path / "ct", ct_series_datasets(hu, spacing=(5.0, 4.0, 4.0)))
    summary = _run("liver_ct_seg", tmp_path / "ct", tmp_path / "out", "--no-tta")
    assert "seg.dcm" in summary["outputs"]
    # LPS (-100, -80, 10) with unit axes -> RAS affine
    affine = np.array([[-4, 0, 0, 100], [0, -4, 0, 80], [0, 0, 5, 10], [0, 0, 0, 1]], float)
    findings = _check_seg_outputs(tmp_path / "out", shape=(48, 40, 3), affine=affine)
    assert findings["dicom_seg"]["written"] is True
    seg = pydicom.dcmread(tmp_path / "out" / "seg.dcm")
    assert seg.Modality == "SEG" and seg.SoftwareVersions == findings["model"]["version"]


def test_liver_nifti_keeps_the_input_grid(tmp_path: Path) -> None:
    hu = phantom_hu(nz=3, ny=40, nx=48).astype(np.float32)
    # an RAS-ordered NIfTI (x flipped and y flipped relative to the internal LPS order), with an origin
    data = hu.transpose(2, 1, 0)[::-1, ::-1, :]
    affine = np.array([[4, 0, 0, -90], [0, 4, 0, -70], [0, 0, 5, 12], [0, 0, 0, 1]], float)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), str(tmp_path / "ct.nii.gz"))
    _run("liver_ct_seg", tmp_path / "ct.nii.gz", tmp_path / "out", "--no-tta")
    _check_seg_outputs(tmp_path / "out", shape=data.shape, affine=affine)
    assert not (tmp_path / "out" / "seg.dcm").exists()
    img = nib.load(str(tmp_path / "out" / "labels.nii.gz"))
    assert isinstance(img, nib.Nifti1Image)
    labels = np.asarray(img.dataobj)
    assert not labels[data < -500].any()  # labels stay aligned with the input voxels (none in air)


def test_liver_nrrd_and_npz(tmp_path: Path) -> None:
    hu = phantom_hu(nz=3, ny=40, nx=48).astype(np.float32)
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([4.0, 4.0, 5.0]),
        "space origin": np.array([1.0, 2.0, 3.0]),
    }
    nrrd.write(str(tmp_path / "ct.nrrd"), hu.transpose(2, 1, 0).copy(), header)
    _run("liver_ct_seg", tmp_path / "ct.nrrd", tmp_path / "a", "--no-tta")
    _check_seg_outputs(
        tmp_path / "a",
        shape=(48, 40, 3),
        affine=np.array([[-4, 0, 0, -1], [0, -4, 0, -2], [0, 0, 5, 3], [0, 0, 0, 1]], float),
    )
    np.savez(tmp_path / "ct.npz", images=hu, spacing=np.array([5.0, 4.0, 4.0]))
    _run("liver_ct_seg", tmp_path / "ct.npz", tmp_path / "b", "--no-tta")
    _check_seg_outputs(tmp_path / "b", shape=(48, 40, 3), affine=np.diag([-4.0, -4.0, 5.0, 1.0]))


def test_dicom_without_frame_of_reference_still_writes_labels(tmp_path: Path) -> None:
    datasets = ct_series_datasets(phantom_hu(nz=2, ny=32, nx=32))
    for ds in datasets:
        del ds.FrameOfReferenceUID
    ct_series_write(tmp_path / "ct", datasets)
    summary = _run("liver_ct_seg", tmp_path / "ct", tmp_path / "out", "--no-tta")
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert summary["outputs"] == ["labels.nii.gz", "findings.json"]
    assert findings["dicom_seg"] == {
        "written": False,
        "code": "dicom_attribute_missing",
        "message": "source DICOM attribute FrameOfReferenceUID missing",
        "detail": {"attribute": "FrameOfReferenceUID"},
    }


@pytest.mark.parametrize(
    ("model", "make", "code"),
    [
        (
            "liver_ct_seg",
            lambda p: shutil.copy(sorted(CXR.glob("*.png"))[0], p / "x.png"),
            "model_input_invalid",
        ),
        ("cxr_pneumonia", lambda p: (p / "empty").mkdir(), "model_input_invalid"),
        ("nope", lambda p: None, "model_not_found"),
    ],
)
def test_cli_errors_carry_codes(tmp_path: Path, model: str, make: object, code: str) -> None:
    make(tmp_path)  # type: ignore[operator]
    src = tmp_path / ("x.png" if model == "liver_ct_seg" else "empty")
    with pytest.raises(CommandError, match=code):
        call_command("run_model", model, "-i", str(src), "-o", str(tmp_path / "out"), "--quiet")

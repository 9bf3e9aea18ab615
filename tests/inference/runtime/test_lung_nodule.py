"""The lung nodule detector (lung_nodule_ct) on a synthetic chest slab, and its CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from django.core.management import call_command

from inference.registry import ModelInputInvalid, model_card_get, model_weights_verify
from inference.runtime import lung_nodule as detector
from tests.inference.data.synthetic import ct_series_datasets, ct_series_write
from tests.inference.lung_nodule_phantom import NODULE_CENTRE_ZYX, SPACING, chest_hu


def _params() -> dict[str, object]:
    return detector.params_load(model_card_get(key="lung_nodule_ct"))


def test_card_is_registered_with_hash_checked_parameters() -> None:
    card = model_card_get(key="lung_nodule_ct")
    assert card.task == "detection"
    assert model_weights_verify(card=card).name == "params.json"
    assert card.population is not None
    assert card.data["training"]["data"][0]["licence"] == "CC BY 3.0"
    assert card.data["metrics"]["leave_one_slab_out"]
    for fold in card.data["metrics"]["leave_one_slab_out"]:
        assert {r["perturbation"] for r in fold["robustness"]} == {"noise_sd_hu", "shift_hu"}


def test_finds_the_sphere_and_not_the_vessels() -> None:
    hu = chest_hu().astype(np.float32)
    labels, nodules = detector.nodules_detect(hu, SPACING, _params())
    assert len(nodules) == 1, [n["features"] for n in nodules]
    nodule = nodules[0]
    assert labels[NODULE_CENTRE_ZYX] == nodule["id"] == 1
    assert set(np.unique(labels).tolist()) == {0, 1}
    assert nodule["centre_zyx"] == pytest.approx(list(NODULE_CENTRE_ZYX), abs=0.5)
    # a 10 mm sphere, digitised at 1 mm: 10-12 mm across, volume about 524 mm3
    assert 9.5 <= nodule["short_axis_mm"] <= nodule["long_axis_mm"] <= 12.5
    assert nodule["mean_diameter_mm"] == pytest.approx((nodule["long_axis_mm"] + nodule["short_axis_mm"]) / 2, abs=0.051)
    assert 400 <= nodule["volume_mm3"] <= 700
    assert nodule["type"] == "solid" and nodule["calcified"] is False
    assert nodule["upper_lobe"] is None  # a slab: the lungs' extent is unknown
    assert 0.5 < nodule["confidence"] <= 1.0


@pytest.mark.parametrize(("kwargs", "kind", "calcified"), [
    ({"ground_glass": True}, "ground-glass", False),
    ({"nodule_hu": 500.0}, "solid", True),
])
def test_type_and_calcification(kwargs: dict[str, object], kind: str, calcified: bool) -> None:
    hu = chest_hu(**kwargs).astype(np.float32)  # type: ignore[arg-type]
    _, nodules = detector.nodules_detect(hu, SPACING, _params())
    found = [n for n in nodules if abs(n["centre_zyx"][2] - NODULE_CENTRE_ZYX[2]) < 2]
    assert len(found) == 1
    assert found[0]["type"] == kind and found[0]["calcified"] is calcified


def test_robust_to_noise_and_hu_shift() -> None:
    base = chest_hu().astype(np.float32)
    rng = np.random.default_rng(1)
    for hu in (base + rng.normal(0, 20, base.shape).astype(np.float32), base + 30, base - 30):
        labels, nodules = detector.nodules_detect(hu, SPACING, _params())
        assert len(nodules) == 1 and labels[NODULE_CENTRE_ZYX] == 1


def test_click_to_measure_grows_the_nodule_under_the_click() -> None:
    hu = chest_hu().astype(np.float32)
    z, y, x = NODULE_CENTRE_ZYX
    result = detector.nodule_measure_at(hu, SPACING, _params(), (z, y + 3, x - 2))
    assert result is not None
    mask, measured = result
    assert mask[NODULE_CENTRE_ZYX] and measured["nodule_like"] is True
    assert 9.5 <= measured["long_axis_mm"] <= 12.5
    assert detector.nodule_measure_at(hu, SPACING, _params(), (z, 5, 5)) is None  # air outside the body


def test_rejects_what_is_not_a_ct_volume() -> None:
    with pytest.raises(ModelInputInvalid):
        detector.nodules_detect(np.zeros((4, 8, 8), np.float32), SPACING, _params())
    with pytest.raises(ModelInputInvalid) as exc:
        detector.nodules_detect(np.full((4, 32, 32), 90000, np.float32), SPACING, _params())
    assert exc.value.code == "input_not_hounsfield"


def test_cli_writes_labels_in_the_input_geometry_csv_and_seg(tmp_path: Path) -> None:
    hu = chest_hu()
    folder = tmp_path / "dicom"
    ct_series_write(folder, ct_series_datasets(hu, spacing=SPACING))
    out = tmp_path / "out"
    call_command("run_model", "lung_nodule_ct", "-i", str(folder), "-o", str(out))
    img: Any = nib.load(str(out / "labels.nii.gz"))
    data = np.asarray(img.dataobj)
    # the data set's convention: voxel [i, j, k] = pixel (row j, column i) of slice k in increasing z
    assert data.shape == (hu.shape[2], hu.shape[1], hu.shape[0])
    z, y, x = NODULE_CENTRE_ZYX
    assert data[x, y, z] == 1 and set(np.unique(data).tolist()) == {0, 1}
    assert np.allclose(np.diag(img.affine)[:3], [-SPACING[2], -SPACING[1], SPACING[0]])  # LPS input, RAS affine
    with (out / "nodules.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(detector.CSV_COLUMNS) and len(rows) == 1
    row = rows[0]
    # centre in patient coordinates (LPS): the synthetic series starts at (-100, -80, 10) mm
    assert float(row["centre_x_mm"]) == pytest.approx(-100 + x * SPACING[2], abs=0.6)
    assert float(row["centre_y_mm"]) == pytest.approx(-80 + y * SPACING[1], abs=0.6)
    assert float(row["centre_z_mm"]) == pytest.approx(10 + z * SPACING[0], abs=0.6)
    assert row["type"] == "solid" and row["calcified"] == "no" and row["upper_lobe"] == "unknown"
    findings = json.loads((out / "findings.json").read_text())
    assert findings["model"]["key"] == "lung_nodule_ct" and "supports, not replaces" in findings["notice"]
    seg = pydicom.dcmread(out / "seg.dcm")
    assert seg.Modality == "SEG" and seg.SegmentSequence[0].SegmentLabel == "Lung nodule 1"

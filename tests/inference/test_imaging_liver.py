"""Liver CT pipeline: DICOM reading, inference on a synthetic series, findings, DICOM SEG round trip."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from inference.registry import ModelInputInvalid
from inference.runtime.dicom_seg import seg_dicom_create, seg_dicom_from_volume
from inference.runtime.io import DicomAttributeMissing, dicom_series_from_datasets, dicom_series_read
from inference.runtime.liver import run_liver_seg
from tests.inference.data.synthetic import ct_series_datasets, ct_series_write, phantom_hu

MODEL = {"key": "liver_ct_seg", "version": "1.0.0", "weights_sha256": "ab" * 32}


def test_dicom_series_is_sorted_and_rescaled(tmp_path: Path) -> None:
    hu = phantom_hu(nz=3, ny=32, nx=40)
    ct_series_write(tmp_path / "ct", ct_series_datasets(hu, spacing=(5.0, 2.0, 1.5)), shuffle=True)
    vol = dicom_series_read(tmp_path / "ct")
    zyx, spacing = vol.internal()
    np.testing.assert_array_equal(zyx, hu.astype(np.float32))
    assert spacing == pytest.approx((5.0, 2.0, 1.5))
    assert [int(ds.InstanceNumber) for ds in vol.datasets] == [1, 2, 3]


def test_missing_geometry_fails_with_a_code() -> None:
    datasets = ct_series_datasets(phantom_hu(nz=2, ny=16, nx=16))
    del datasets[1].PixelSpacing
    datasets[0].PixelSpacing = datasets[0].PixelSpacing  # the first slice keeps it
    del datasets[0].RescaleIntercept
    with pytest.raises(DicomAttributeMissing) as exc:
        dicom_series_from_datasets(datasets)
    assert exc.value.code == "dicom_attribute_missing"


def test_uneven_slices_are_refused() -> None:
    datasets = ct_series_datasets(phantom_hu(nz=3, ny=16, nx=16))
    datasets[2].ImagePositionPatient = [-100.0, -80.0, 40.0]
    with pytest.raises(ModelInputInvalid):
        dicom_series_from_datasets(datasets)


def test_dicom_seg_references_source_and_matches_mask(tmp_path: Path) -> None:
    hu = phantom_hu(nz=4, ny=32, nx=32)
    datasets = ct_series_datasets(hu)
    ct_series_write(tmp_path / "ct", datasets)
    volume = dicom_series_read(tmp_path / "ct")
    labels = np.zeros(hu.shape, np.uint8)
    labels[1:3, 8:20, 6:18] = 1
    labels[2, 10:14, 9:12] = 2
    seg = seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=MODEL)
    seg.save_as(tmp_path / "seg.dcm")
    reread = hd.seg.segread(tmp_path / "seg.dcm")
    assert reread.ManufacturerModelName == "liver_ct_seg"
    assert reread.SoftwareVersions == "1.0.0"
    ours = [
        e for e in reread.ContributingEquipmentSequence if e.get("ManufacturerModelName") == "liver_ct_seg"
    ]
    assert len(ours) == 1 and ours[0].SoftwareVersions == "1.0.0"
    assert ours[0].DeviceSerialNumber == MODEL["weights_sha256"][:16]
    ref_series = reread.ReferencedSeriesSequence[0]
    assert ref_series.SeriesInstanceUID == datasets[0].SeriesInstanceUID
    assert reread.FrameOfReferenceUID == datasets[0].FrameOfReferenceUID
    sop_uids = [ds.SOPInstanceUID for ds in volume.datasets]
    for number, expected in ((1, labels >= 1), (2, labels == 2)):
        desc = reread.get_segment_description(number)
        assert desc.algorithm_identification is not None
        assert desc.algorithm_identification[0].AlgorithmName == "liver_ct_seg"
        mask = reread.get_pixels_by_source_instance(
            source_sop_instance_uids=sop_uids,
            segment_numbers=[number],
            combine_segments=False,
            skip_overlap_checks=True,
        )[..., 0]
        np.testing.assert_array_equal(mask.astype(bool), expected)


def test_dicom_seg_refuses_sources_without_frame_of_reference() -> None:
    datasets = ct_series_datasets(phantom_hu(nz=2, ny=16, nx=16))
    for ds in datasets:
        del ds.FrameOfReferenceUID
    with pytest.raises(DicomAttributeMissing):
        seg_dicom_create(labels_frames=np.zeros((2, 16, 16), np.uint8), source_datasets=datasets, model=MODEL)


def test_run_liver_seg_on_a_synthetic_volume() -> None:
    hu = phantom_hu(nz=3, ny=48, nx=56).astype(np.float32)
    labels, findings = run_liver_seg(hu, (5.0, 4.0, 4.0))
    assert labels.shape == hu.shape and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2}
    assert findings["model"]["key"] == "liver_ct_seg"
    assert len(findings["model"]["weights_sha256"]) == 64
    assert findings["liver"]["volume"]["unit"] == "mL"
    assert findings["lesion_count"] == len(findings["lesions"])
    assert findings["uncertainty"]["transforms"] == ["identity", "flip_x"]
    for lesion in findings["lesions"]:
        assert 0.0 <= lesion["confidence"] <= 1.0 and 0.0 <= lesion["tta_agreement"] <= 1.0
    assert not labels[hu < -500].any()  # nothing labelled in air


@pytest.mark.parametrize(
    ("volume", "spacing"),
    [
        (np.zeros((2, 8, 8), np.float32), (1.0, 1.0, 1.0)),  # too small in-plane
        (np.zeros((2, 32, 32), np.float32), (0.0, 1.0, 1.0)),  # bad spacing
        (np.full((2, 32, 32), 60000.0, np.float32), (1.0, 1.0, 1.0)),  # not HU
    ],
)
def test_run_liver_seg_rejects_bad_input(volume: np.ndarray, spacing: tuple[float, float, float]) -> None:
    with pytest.raises(ModelInputInvalid):
        run_liver_seg(volume, spacing)


def test_seg_frames_follow_the_source_order(tmp_path: Path) -> None:
    """Frames map to source images by SOP instance, whatever order the files came in."""
    hu = phantom_hu(nz=3, ny=16, nx=16)
    datasets = ct_series_datasets(hu)
    volume = dicom_series_from_datasets(list(reversed(datasets)))
    labels = np.zeros(hu.shape, np.uint8)
    labels[0, 2:5, 2:5] = 1  # only the most inferior slice
    seg = seg_dicom_from_volume(labels_zyx=labels, volume=volume, model=MODEL)
    mask = hd.seg.Segmentation.from_dataset(
        pydicom.dcmread(_save(seg, tmp_path))
    ).get_pixels_by_source_instance(
        source_sop_instance_uids=[datasets[0].SOPInstanceUID, datasets[2].SOPInstanceUID],
        segment_numbers=[1],
        combine_segments=False,
        skip_overlap_checks=True,
    )
    assert mask[0].any() and not mask[1].any()


def _save(ds: pydicom.Dataset, tmp_path: Path) -> Path:
    path = tmp_path / "s.dcm"
    ds.save_as(path)
    return path

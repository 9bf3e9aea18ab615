"""Liver CT pipeline: DICOM reading, inference on a synthetic series, findings, DICOM SEG round trip;
the training core on tiny synthetic cases."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import torch

from inference.registry import ModelInputInvalid, model_card_get
from inference.runtime.dicom_seg import seg_dicom_create, seg_dicom_from_volume
from inference.runtime.io import (
    DicomAttributeMissing,
    dicom_files,
    dicom_series_from_datasets,
    dicom_series_read,
)
from inference.runtime.liver import run_liver_seg
from inference.runtime.networks import liver_architecture, network_build
from inference.runtime.postprocessing import RULE_FEATURES, labels_clean
from inference.training.imaging.liver_fit import (
    TRAIN,
    Case,
    Sampler,
    case_canvas,
    case_load,
    case_save,
    loss_compute,
    model_fit,
    state_dict_cpu,
)
from tests.inference.data.synthetic import ct_series_datasets, ct_series_write, phantom_hu

MODEL = {"key": "liver_ct_seg", "version": "1.0.0", "weights_sha256": "ab" * 32}
DEMO_CT = Path(__file__).resolve().parents[3] / "imaging" / "demo_data" / "ct-abdomen"


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


# --- training core (tiny synthetic cases on the CPU; the real data never enter the tests) ----------


def _tiny_case(*, lesion_labels: bool = True, name: str = "tiny") -> Case:
    hu = phantom_hu(nz=6, ny=40, nx=44).astype(np.float32)
    labels = np.zeros(hu.shape, np.uint8)
    labels[hu > 80] = 1  # the phantom's bright 'liver' blob
    return case_canvas(name=name, hu=hu, labels=labels, spacing=(2.0, 1.6, 1.6), lesion_labels=lesion_labels)


def test_case_canvas_resamples_in_plane_and_round_trips(tmp_path: Path) -> None:
    hu = phantom_hu(nz=3, ny=40, nx=40).astype(np.float32)
    labels = (hu > 80).astype(np.uint8)
    case = case_canvas(name="c", hu=hu, labels=labels, spacing=(2.0, 0.8, 0.8), lesion_labels=False)
    assert case.hu.shape == (3, 20, 20) and case.hu.dtype == np.int16 and case.labels.dtype == np.uint8
    assert set(np.unique(case.labels)) == {0, 1}
    case_save(case, tmp_path / "c.npz")
    back = case_load(tmp_path / "c.npz")
    np.testing.assert_array_equal(back.hu, case.hu)
    np.testing.assert_array_equal(back.labels, case.labels)
    assert (back.name, back.slice_mm, back.lesion_labels) == ("c", 2.0, False)


def test_sampler_batches_and_synthetic_lesions_stay_in_the_liver() -> None:
    cases = [_tiny_case(), _tiny_case(lesion_labels=False, name="liver-only")]
    settings = {**TRAIN, "synthetic_lesions": {**TRAIN["synthetic_lesions"], "p": 1.0, "min_liver_px": 20}}
    cpu = torch.device("cpu")
    x, y, full = Sampler(cases, device=cpu, seed=3, crop=32, settings=settings, synthetic=True).batch(8)
    _, y_plain, full_plain = Sampler(
        cases, device=cpu, seed=3, crop=32, settings=settings, synthetic=False
    ).batch(8)
    assert x.shape == (8, 3, 32, 32) and y.shape == (8, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert set(torch.unique(y).tolist()) <= {0, 1, 2}
    assert torch.equal(full, full_plain)
    assert bool((y == 2).any())  # every full-label sample with enough liver got a lesion
    assert bool((y_plain[y == 2] > 0).all())  # lesions only where the liver was
    assert not bool((y[~full] == 2).any())  # none pasted into liver-only cases


def test_loss_ignores_liver_vs_lesion_on_liver_only_samples() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    y = torch.zeros(2, 8, 8, dtype=torch.long)
    y[:, 2:6, 2:6] = 1
    partial = torch.tensor([False, False])
    swapped = logits[:, [0, 2, 1]]
    assert torch.isclose(loss_compute(logits, y, partial), loss_compute(swapped, y, partial))
    full = torch.tensor([True, True])
    assert not torch.isclose(loss_compute(logits, y, full), loss_compute(swapped, y, full))


def test_trained_weights_load_into_the_runtime_network() -> None:
    net, record = model_fit(
        cases=[_tiny_case()],
        seed=0,
        device=torch.device("cpu"),
        log=lambda _: None,
        iterations=2,
        batch=2,
        crop=32,
    )
    assert record["iterations"] == 2
    runtime = network_build(architecture=liver_architecture(in_channels=3, features=TRAIN["features"]))
    runtime.load_state_dict(state_dict_cpu(net), strict=True)


def test_registered_liver_card_reports_clean_held_out_folds() -> None:
    """The registered version's LOPO rows never list the held-out patient among the training cases,
    and its lesion rule's leave-one-case-out rows never fit the rule on the case they score."""
    card = model_card_get(key="liver_ct_seg")
    assert card.version == "1.2.0"
    assert card.weights_sha256 == model_card_get(key="liver_ct_seg", version="1.1.0").weights_sha256
    rows = card.data["metrics"]["leave_one_patient_out"]
    assert {r["patient"] for r in rows} == {"3Dircadb1.1", "3Dircadb1.7"}
    for r in rows + card.data["metrics"]["other_held_out"]:
        assert r["patient"] not in r["trained_on"]
    rule = card.data["postprocessing"]["lesion_rule"]
    assert rule["features"] == list(RULE_FEATURES) and 0.0 < rule["min_confidence"] < 1.0
    table = card.data["metrics"]["lesion_rule"]["leave_one_case_out"]
    assert {r["case"] for r in table} == set(rule["trained_on"]) >= {"3Dircadb1.1", "3Dircadb1.7", "lits117-roi"}
    for r in table:
        assert r["case"] not in r["rule_trained_on"]


@pytest.mark.model
def test_demo_ct_proposes_no_lesion() -> None:
    """The registered model on the demo CT (the TotalSegmentator example: no liver lesion) proposes
    no lesion. 1.1.0 proposed a 134.8 mL 'lesion' along the liver's back through all 20 slices; it
    is now held back with its reason, and its voxels count as liver."""
    datasets = [pydicom.dcmread(p) for p in dicom_files(DEMO_CT)]
    for ds in datasets:
        ds.SeriesInstanceUID = "2.25.1"  # the source blanks its UIDs; the demo seeding sets them
    hu, spacing = dicom_series_from_datasets(datasets).internal()
    labels, findings = run_liver_seg(hu, spacing)
    assert findings["model"]["version"] == "1.2.0"
    assert findings["liver"]["present"] and findings["liver"]["volume"]["value"] > 500
    assert findings["lesion_count"] == 0 and findings["lesions"] == []
    assert not (labels == 2).any()
    held_back = findings["lesion_candidates_not_proposed"]
    assert max(c["volume"]["value"] for c in held_back) > 100
    assert all(c["reason"] in ("spans_scan", "below_min_confidence") for c in held_back)


def test_lesions_mostly_outside_the_liver_are_dropped() -> None:
    """The registered rule: a 'lesion' that touches the liver only at its edge (a neighbouring mass) goes
    to background; one inside the liver stays."""
    labels = np.zeros((12, 40, 60), np.uint8)
    labels[1:11, 5:35, 5:30] = 1  # liver
    labels[4:8, 14:22, 12:20] = 2  # lesion inside
    labels[3:9, 10:26, 30:45] = 2  # mass against the liver's right side
    settings = {"largest_liver_component": True, "min_lesion_ml": 0.0, "lesion_min_liver_contact": 0.5}
    out = labels_clean(labels, spacing=(1.0, 1.0, 1.0), settings=settings)
    assert (out[4:8, 14:22, 12:20] == 2).all()
    assert (out[3:9, 10:26, 30:45] == 0).all()
    assert (out[labels == 1] == 1).all()
    kept = labels_clean(
        labels, spacing=(1.0, 1.0, 1.0), settings={**settings, "lesion_min_liver_contact": 0.0}
    )
    assert (kept == labels).all()

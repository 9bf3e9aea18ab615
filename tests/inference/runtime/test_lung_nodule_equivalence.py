"""The lung nodule detector's fast path against its straightforward reference (``reference=True``):
the same lung mask, candidates, labels and measurements, to the last bit."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage as ndi

from inference.registry import model_card_get
from inference.runtime import lung_nodule as detector
from inference.runtime.io import Volume
from tests.inference.lung_nodule_phantom import chest_hu


def _chest() -> NDArray[np.float32]:
    """The test slab with body-only slices above and below (so the lungs end inside the scan) and
    more nodule-like things: two touching spheres, a small one, one against the pleura, one cut by
    the last lung slice."""
    hu = chest_hu(seed=2).astype(np.float32)
    body = hu[:1] > -950  # tissue and lungs: the caps are solid body
    cap = np.where(body, 30.0, -1000.0).astype(np.float32)
    hu = np.concatenate([cap, cap, cap, hu, cap, cap], axis=0)
    z, y, x = np.meshgrid(*[np.arange(n) for n in hu.shape], indexing="ij")
    for (cz, cy, cx), r in (
        ((8, 45, 30), 4.5),
        ((8, 45, 38), 4.0),
        ((16, 85, 42), 2.5),
        ((12, 40, 18), 4.0),
        ((22, 70, 85), 5.0),
    ):
        hu[((z - cz) * 2.0) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r**2] = 45.0
    return hu


def _same_detections(
    hu: NDArray[np.float32], spacing: tuple[float, float, float], params: dict[str, Any]
) -> int:
    lung = detector.lung_mask(hu, spacing, params)
    assert np.array_equal(lung, detector._lung_mask_reference(hu, spacing, params))
    fast, _ = detector.candidates_find(hu, spacing, params, lung=lung)
    slow, _ = detector.candidates_find(hu, spacing, params, lung=lung, reference=True)
    assert len(fast) == len(slow) > 0
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(a.index, b.index)
        assert a.features == b.features
    labels, nodules = detector.nodules_detect(hu, spacing, params)
    ref_labels, ref_nodules = detector.nodules_detect(hu, spacing, params, reference=True)
    assert np.array_equal(labels, ref_labels)
    assert nodules == ref_nodules  # floats compared exactly
    return len(nodules)


@pytest.mark.parametrize("spacing", [(2.0, 1.0, 1.0), (2.0, 0.7, 0.7), (1.25, 0.8, 0.8)])
def test_fast_detector_gives_the_reference_detections(spacing: tuple[float, float, float]) -> None:
    hu = _chest()
    card_params = detector.params_load(model_card_get(key="lung_nodule_ct"))
    loose = {**detector.DEFAULT_PARAMS, "max_attachment": 0.5}  # more candidates accepted, some overlapping
    found = [_same_detections(hu, spacing, params) for params in (card_params, loose)]
    assert max(found) >= 3


def test_upper_lobe_and_scan_edge_come_out_the_same() -> None:
    hu = _chest()
    params = {**detector.DEFAULT_PARAMS, "max_attachment": 0.5}
    _same_detections(hu, (2.0, 1.0, 1.0), params)
    _, nodules = detector.nodules_detect(hu, (2.0, 1.0, 1.0), params)
    assert {n["upper_lobe"] for n in nodules} == {True, False}  # the lungs end inside this scan


def _blobs(shape: tuple[int, int, int], seed: int) -> NDArray[np.bool_]:
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.normal(size=shape), (1.5, 3.0, 3.0))
    return np.asarray(field > 0.0)


@pytest.mark.parametrize(
    ("spacing", "radii"),
    [
        ((2.0, 0.7, 0.7), [1.5, 2.5, 3.5]),
        ((1.0, 1.0, 1.0), [1.0, 2.0, 3.0]),
        ((0.3, 0.1, 0.1), [0.3, 0.5, 0.7]),  # 0.3 and 0.7 mm: tied offsets round to both sides
    ],
)
def test_openings_match_the_distance_transforms(
    spacing: tuple[float, float, float], radii: list[float]
) -> None:
    assert detector._threshold_ambiguous(0.7, (0.3, 0.1, 0.1))
    assert not detector._threshold_ambiguous(3.5, (2.0, 0.7, 0.7))
    for seed in range(3):
        mask = _blobs((12, 40, 44), seed)
        opened = detector._openings(mask, radii, spacing)
        for r, got in zip(radii, opened, strict=True):
            want = detector._dilate_mm(detector._erode_mm(mask, r, spacing), r, spacing) & mask
            assert want.any() and not want.all()
            assert np.array_equal(got, want), (seed, r)
        assert np.array_equal(
            detector._dilate_ball_mm(mask, radii[-1], spacing), detector._dilate_mm(mask, radii[-1], spacing)
        )


def _affines() -> list[NDArray[np.float64]]:
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in ((1, 1, 1), (-1, -1, 1), (1, -1, -1)):
            a = np.zeros((4, 4))
            for col, (row, sign, zoom) in enumerate(zip(perm, signs, (0.7, 0.8, 2.0), strict=True)):
                a[row, col] = sign * zoom
            a[:3, 3] = (-100.0, 20.0, 5.0)
            a[3, 3] = 1.0
            out.append(a)
    return out


@pytest.mark.parametrize("affine", _affines())
def test_centres_in_patient_coordinates_match_the_whole_volume_centre_of_mass(
    affine: NDArray[np.float64],
) -> None:
    volume = Volume(data_ijk=np.zeros((30, 26, 9), dtype=np.int16), affine_ras=affine, kind="dicom")
    hu, _ = volume.internal()
    labels = np.zeros(hu.shape, dtype=np.uint16)
    rng = np.random.default_rng(0)
    for n in range(1, 4):
        labels[_blobs(hu.shape, n) & (labels == 0) & (rng.random(hu.shape) < 0.3)] = n
    centres = detector._centres_lps(volume, labels)
    assert sorted(centres) == [1, 2, 3]
    for n, centre in centres.items():
        assert centre == detector._centre_lps(volume, labels == n)


def test_hole_filling_matches_ndimage() -> None:
    rng = np.random.default_rng(0)
    holes = 0
    for _ in range(60):
        shape = (int(rng.integers(3, 50)), int(rng.integers(3, 50)))
        mask = ndi.gaussian_filter(rng.normal(size=shape), rng.uniform(0.5, 3.0)) > rng.uniform(-0.1, 0.1)
        want = ndi.binary_fill_holes(mask)
        holes += int((want & ~mask).any())
        assert np.array_equal(detector._fill_holes(mask), want)
    assert holes > 5

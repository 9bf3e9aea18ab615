"""Network shapes on tiny CPU tensors, preprocessing, orientation and measurement helpers."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from inference.registry import ModelCardInvalid, ModelInputInvalid
from inference.runtime.io import Volume
from inference.runtime.networks import cxr_architecture, liver_architecture, network_build
from inference.runtime.postprocessing import dice, findings_compute, labels_clean, longest_axial_diameter_mm
from inference.runtime.preprocessing import (
    centre_crop_or_pad,
    clahe,
    cxr_channels,
    cxr_preprocess,
    cxr_to_gray_u8,
    histogram_equalise,
    resize_u8,
    uncrop,
)


@pytest.mark.parametrize("channels", [1, 3])
def test_cxr_resnet_shape(channels: int) -> None:
    net = network_build(
        architecture=cxr_architecture(in_channels=channels, widths=[4, 8, 8, 8], layers=[1, 1, 1, 1])
    ).eval()
    with torch.inference_mode():
        out = net(torch.zeros(2, channels, 64, 64))
    assert out.shape == (2, 2)


def test_unetplusplus_shape_and_single_output() -> None:
    net = network_build(architecture=liver_architecture(in_channels=3, features=[4, 4, 8, 8, 8, 4])).eval()
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 32, 48))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (1, 3, 32, 48)


def test_unknown_architecture_is_a_card_error() -> None:
    with pytest.raises(ModelCardInvalid):
        network_build(architecture={"name": "torchvision.models.resnet50", "kwargs": {}})


def test_cxr_preprocessing_modes() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (100, 80, 3), dtype=np.uint8)
    grey = cxr_preprocess(rgb, settings={"size": 32, "colour": "grayscale", "mean": 0.5, "std": 0.25})
    colour = cxr_preprocess(rgb, settings={"size": 32, "colour": "pseudocolour", "mean": 0.5, "std": 0.25})
    assert grey.shape == (1, 32, 32) and colour.shape == (3, 32, 32)
    assert grey.dtype == np.float32
    np.testing.assert_allclose(colour[0], grey[0])  # channel 0 of pseudo-colour is the grey image
    with pytest.raises(ModelInputInvalid):
        cxr_channels(np.zeros((8, 8), np.uint8), settings={"colour": "rainbow"})
    with pytest.raises(ModelInputInvalid):
        cxr_to_gray_u8(np.zeros((4, 4)))


def test_sixteen_bit_images_are_scaled_not_clipped() -> None:
    img = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    g = cxr_to_gray_u8(img)
    assert g.min() == 0 and g.max() == 255


def test_clahe_and_equalisation_spread_a_narrow_histogram() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(100, 120, (64, 64)).astype(np.uint8)
    he, cl = histogram_equalise(img), clahe(img, clip_limit=2.0, tiles=8)
    assert he.max() - he.min() > 200
    assert cl.std() > img.std() * 2
    flat = np.full((64, 64), 77, np.uint8)  # a constant image stays constant
    assert len(np.unique(clahe(flat))) == 1


def _clahe_as_trained(image: np.ndarray, *, clip_limit: float, tiles: int) -> np.ndarray:
    """The plain formulation the committed models were trained with (before the per-shape
    geometry cache and in-place arithmetic): the fast path must give the same bytes."""
    h, w = image.shape
    th, tw = -(-h // tiles), -(-w // tiles)
    padded = np.pad(image, ((0, th * tiles - h), (0, tw * tiles - w)), mode="reflect")
    blocks = padded.reshape(tiles, th, tiles, tw).transpose(0, 2, 1, 3).reshape(tiles * tiles, th * tw)
    offsets = (np.arange(tiles * tiles) * 256)[:, None]
    hist = np.bincount((blocks.astype(np.int64) + offsets).ravel(), minlength=tiles * tiles * 256)
    hist = hist.reshape(tiles * tiles, 256).astype(np.float64)
    limit = max(clip_limit * th * tw / 256.0, 1.0)
    excess = np.clip(hist - limit, 0, None).sum(axis=1, keepdims=True)
    hist = np.minimum(hist, limit) + excess / 256.0
    cdf = np.cumsum(hist, axis=1)
    luts = np.clip(np.rint(cdf / cdf[:, -1:] * 255.0), 0, 255).reshape(tiles, tiles, 256)
    fy = np.clip((np.arange(h) + 0.5) / th - 0.5, 0, tiles - 1)
    fx = np.clip((np.arange(w) + 0.5) / tw - 0.5, 0, tiles - 1)
    y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    y1, x1 = np.minimum(y0 + 1, tiles - 1), np.minimum(x0 + 1, tiles - 1)
    wy, wx = (fy - y0)[:, None], (fx - x0)[None, :]
    v = image.astype(np.int64)
    top = luts[y0[:, None], x0[None, :], v] * (1 - wx) + luts[y0[:, None], x1[None, :], v] * wx
    bottom = luts[y1[:, None], x0[None, :], v] * (1 - wx) + luts[y1[:, None], x1[None, :], v] * wx
    return np.clip(np.rint(top * (1 - wy) + bottom * wy), 0, 255).astype(np.uint8)


def test_fast_preprocessing_gives_the_bytes_the_models_were_trained_on() -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        h, w = (int(n) for n in rng.integers(16, 300, 2))
        if trial % 3 == 0:
            image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        elif trial % 3 == 1:
            image = rng.normal(128, 50, (h, w)).clip(0, 255).astype(np.uint8)
        else:
            image = rng.integers(90, 130, (h, w)).astype(np.uint8)  # narrow: many clipped bins
        tiles, clip_limit = int(rng.integers(2, 9)), float(rng.uniform(1.0, 4.0))
        expected = _clahe_as_trained(image, clip_limit=clip_limit, tiles=tiles)
        assert np.array_equal(clahe(image, clip_limit=clip_limit, tiles=tiles), expected), (h, w, tiles)
        size = int(rng.integers(32, 160))
        settings = {"size": size, "colour": "pseudocolour", "mean": 0.45, "std": 0.3,
                    "clahe": {"clip_limit": clip_limit, "tiles": tiles}}
        grey = cxr_to_gray_u8(image)
        stack = cxr_channels(resize_u8(grey, size=size), settings=settings).astype(np.float32) / 255.0
        as_trained = ((stack - 0.45) / 0.3).astype(np.float32)
        fast = cxr_preprocess(image, settings=settings)
        assert fast.dtype == np.float32 and np.array_equal(fast, as_trained)


def test_centre_crop_and_uncrop_are_inverse() -> None:
    a = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    for size in (5, 12):
        c, off = centre_crop_or_pad(a, size=size)
        back = uncrop(c, shape_yx=a.shape, offsets=off, value=-1)
        covered = back != -1
        np.testing.assert_array_equal(back[covered], a[covered])
        assert covered.all() == (size >= 9)


@pytest.mark.parametrize("axcodes", [("R", "A", "S"), ("L", "P", "S"), ("L", "A", "I"), ("P", "L", "S")])
def test_volume_orientation_round_trip(axcodes: tuple[str, str, str]) -> None:
    """Any NIfTI orientation reaches the internal LPS order, and labels come back onto the input grid."""
    rng = np.random.default_rng(2)
    lps = rng.normal(size=(6, 5, 4)).astype(np.float32)  # (x: L, y: P, z: S)
    spacing_xyz = np.array([0.7, 0.8, 2.5])
    target = nib.orientations.axcodes2ornt(axcodes)
    t = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt(("L", "P", "S")), target)
    data = nib.orientations.apply_orientation(lps, t)
    affine_lps = np.diag(
        [-spacing_xyz[0], -spacing_xyz[1], spacing_xyz[2], 1.0]
    )  # RAS affine of an LPS array
    affine = affine_lps @ nib.orientations.inv_ornt_aff(t, lps.shape)
    vol = Volume(data_ijk=data, affine_ras=affine, kind="nifti")
    zyx, spacing = vol.internal()
    np.testing.assert_array_equal(zyx, lps.transpose(2, 1, 0))
    np.testing.assert_allclose(spacing, spacing_xyz[::-1])
    np.testing.assert_array_equal(vol.from_internal(zyx), data)


def test_findings_measure_a_known_lesion() -> None:
    labels = np.zeros((10, 40, 40), np.uint8)
    labels[1:9, 5:35, 5:35] = 1
    labels[3:6, 10:20, 10:16] = 2  # 3 slices x 10 rows x 6 columns
    hu = np.where(labels == 2, 40.0, 100.0).astype(np.float32)
    f = findings_compute(labels=labels, volume_hu=hu, spacing=(2.0, 1.0, 0.5))
    assert f["lesion_count"] == 1
    lesion = f["lesions"][0]
    assert lesion["volume"] == {"value": 0.18, "unit": "mL"}  # 180 voxels x 1 mm^3
    assert lesion["longest_axial_diameter"]["value"] == pytest.approx(np.hypot(10 * 1.0, 6 * 0.5), abs=0.05)
    assert lesion["mean_density"] == {"value": 40.0, "unit": "[hnsf'U]"}
    assert lesion["slice_range"] == [3, 5]
    assert f["liver"]["volume"] == {"value": round(8 * 30 * 30 * 1.0 / 1000, 1), "unit": "mL"}


def test_labels_clean_keeps_largest_liver_and_drops_tiny_lesions() -> None:
    labels = np.zeros((6, 30, 30), np.uint8)
    labels[1:5, 2:20, 2:20] = 1
    labels[2, 5, 5] = 2  # one-voxel lesion: below min volume
    labels[1:5, 25:28, 25:28] = 1  # stray island
    out = labels_clean(labels, spacing=(1.0, 1.0, 1.0), settings={"min_lesion_ml": 0.01})
    assert out[2, 5, 5] == 1
    assert not out[:, 25:28, 25:28].any()
    assert dice(out == 2, np.zeros(out.shape, bool)) == 1.0  # no lesion left, none expected


def test_diameter_of_a_single_pixel_is_its_diagonal() -> None:
    m = np.zeros((5, 5), bool)
    m[2, 2] = True
    assert longest_axial_diameter_mm(m, spacing_yx=(3.0, 4.0)) == pytest.approx(5.0)

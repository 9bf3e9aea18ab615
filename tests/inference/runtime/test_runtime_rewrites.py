"""Load-time rewrites of the segmentation runtime give the original's answers, only faster:
transposed convolutions as pixel shuffles, class argmax, and post-processing in boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.networks.nets import BasicUNetPlusPlus
from scipy import ndimage

from inference.runtime.liver import class_argmax
from inference.runtime.postprocessing import _labels_clean_dense, findings_compute, labels_clean
from inference.runtime.upsample_shuffle import FusedUpCat, ShuffleUpsample, transposed_convs_as_shuffles


def _seeded(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return net.eval()


@pytest.mark.parametrize("size", [32, 36])  # 36: odd edges below, MONAI's replicate-pad path
def test_unet_plus_plus_rewritten_gives_the_same_output(size: int) -> None:
    net = _seeded(BasicUNetPlusPlus(spatial_dims=2, in_channels=3, out_channels=3, features=(4, 8, 8, 8, 8, 4)))
    probe = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    fast = transposed_convs_as_shuffles(net, probe=probe)
    assert fast is not net
    assert sum(isinstance(m, FusedUpCat) for m in fast.modules()) == 10
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in fast.modules())
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        for expected, got in zip(net(x), fast(x), strict=True):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_a_lone_transposed_convolution_becomes_a_shuffle_with_its_bias() -> None:
    net = _seeded(torch.nn.Sequential(torch.nn.ConvTranspose2d(5, 3, kernel_size=3, stride=3), torch.nn.ReLU()))
    probe = torch.randn(2, 5, 7, 9)
    fast = transposed_convs_as_shuffles(net, probe=probe)
    assert isinstance(fast, torch.nn.Sequential) and isinstance(fast[0], ShuffleUpsample) and fast[0].factor == 3
    with torch.inference_mode():
        np.testing.assert_allclose(fast(probe).numpy(), net(probe).numpy(), atol=1e-5)


def test_transposed_convolutions_that_overlap_are_left_alone() -> None:
    net = _seeded(torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, kernel_size=3, stride=2, padding=1)))
    assert transposed_convs_as_shuffles(net, probe=torch.randn(1, 4, 8, 8)) is net


def test_the_committed_liver_model_is_rewritten_and_answers_the_same() -> None:
    from inference.registry import model_card_get
    from inference.runtime.predictor import model_load, network_load

    card = model_card_get(key="liver_ct_seg")
    loaded = model_load(key="liver_ct_seg")
    assert any(isinstance(m, FusedUpCat) for m in loaded.net.modules())
    original = network_load(card=card)
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected, got = original(x), loaded.net.cpu()(x)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)
    assert torch.equal(got.argmax(dim=1), expected.argmax(dim=1))


def test_class_argmax_is_torch_argmax_ties_included() -> None:
    generator = torch.Generator().manual_seed(4)
    for shape in [(2, 3, 17, 9), (1, 2, 5, 5), (3, 4, 8, 8)]:
        scores = torch.randn(shape, generator=generator)
        tie = torch.rand(scores[:, 0].shape, generator=generator) < 0.3
        scores[:, 1] = torch.where(tie, scores[:, 0], scores[:, 1])
        scores[:, -1] = torch.where(~tie, scores[:, 0], scores[:, -1])
        labels = class_argmax(scores)
        assert labels.dtype == torch.uint8
        assert torch.equal(labels.long(), scores.argmax(dim=1))


def _random_labels(rng: np.random.Generator) -> np.ndarray:
    shape = tuple(int(n) for n in rng.integers(6, 30, size=3))
    liver = ndimage.gaussian_filter(rng.normal(size=shape), 1.5) > rng.uniform(0.0, 0.3)
    lesion = ndimage.gaussian_filter(rng.normal(size=shape), 1.0) > rng.uniform(0.2, 0.5)
    labels = np.zeros(shape, np.uint8)
    labels[liver] = 1
    labels[lesion] = 2
    return labels


@pytest.mark.parametrize("seed", range(6))
def test_cleaning_in_the_box_matches_cleaning_the_whole_volume(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = _random_labels(rng)
    if seed % 2:
        labels[0] = 2  # lesions on the volume's edge: the grown box is clipped there
    settings = {"largest_liver_component": True, "lesion_min_liver_contact": 0.5, "min_lesion_ml": 0.01}
    expected = _labels_clean_dense(labels, spacing=(2.0, 0.8, 0.8), settings=settings)
    assert np.array_equal(labels_clean(labels, spacing=(2.0, 0.8, 0.8), settings=settings), expected)


@pytest.mark.parametrize("seed", range(4))
def test_findings_do_not_depend_on_empty_space_around_the_lesions(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    labels = _random_labels(rng)
    hu = rng.normal(60, 15, size=labels.shape).astype(np.float32)
    pad = ((3, 1), (2, 4), (5, 0))
    findings = findings_compute(labels=labels, volume_hu=hu, spacing=(2.0, 0.8, 0.8))
    padded = findings_compute(labels=np.pad(labels, pad), volume_hu=np.pad(hu, pad), spacing=(2.0, 0.8, 0.8))
    assert findings["lesion_count"] > 0 and padded["lesion_count"] == findings["lesion_count"]
    assert padded["liver"] == findings["liver"]
    for lesion, moved in zip(findings["lesions"], padded["lesions"], strict=True):
        assert moved["slice_range"] == [z + 3 for z in lesion["slice_range"]]
        assert moved["key_slice"] == lesion["key_slice"] + 3
        assert moved["centroid_zyx"] == pytest.approx([c + p[0] for c, p in zip(lesion["centroid_zyx"], pad, strict=True)])
        positional = ("slice_range", "key_slice", "centroid_zyx")
        assert {k: v for k, v in moved.items() if k not in positional} == {
            k: v for k, v in lesion.items() if k not in positional
        }

"""The liver model's fast path (survey in z, organ range only, TTA where a lesion is possible)
against the reference path (every slice, every TTA pass): the same labels, fewer forwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from inference.registry import model_card_get
from inference.runtime.liver import (
    SURVEY_COARSE,
    _survey,
    liver_segment_with_model,
    run_liver_seg,
    segment_volume,
    segment_volume_organ,
)
from inference.runtime.postprocessing import dice
from inference.runtime.predictor import (
    LoadedModel,
    Precision,
    bf16_autocast,
    model_load,
    network_load,
    precision_configured,
)
from tests.inference.data.liver_speed import ct_with_organ_slab
from tests.inference.data.synthetic import phantom_hu

AGREEMENT = 0.995  # Dice of the organ (liver + lesion) and of the lesions, fast path vs reference


class _Counting(torch.nn.Module):
    """The network, counting the slices it is given."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.slices = 0

    def forward(self, x: torch.Tensor) -> Any:
        self.slices += int(x.shape[0])
        return self.net(x)


def _agree(fast: np.ndarray, ref: np.ndarray) -> None:
    assert dice(fast > 0, ref > 0) >= AGREEMENT
    assert dice(fast == 2, ref == 2) >= AGREEMENT


@pytest.mark.model
def test_fast_path_agrees_with_the_reference_and_skips_slices_beyond_the_organ() -> None:
    # The demo CT's liver (6 of its slices, 5 mm apart as declared here) between 4 abdomen-like
    # slices below and 4 chest-like slices above; every other row and column (256 x 256).
    volume = ct_with_organ_slab(below=4, organ=6, above=4, demo_range=(7, 13), stride_yx=2)
    spacing = (5.0, 1.953125, 1.953125)
    loaded = model_load(key="liver_ct_seg")
    counting = _Counting(loaded.net)
    model = LoadedModel(card=loaded.card, net=counting, device=loaded.device)
    seen: list[int] = []
    fast, findings = liver_segment_with_model(model=model, volume_hu=volume, spacing_mm=spacing, progress=seen.append)
    fast_slices, counting.slices = counting.slices, 0
    ref, ref_findings = liver_segment_with_model(model=model, volume_hu=volume, spacing_mm=spacing, dense=True)
    assert counting.slices == volume.shape[0] * 2  # the reference: every slice, identity and flip_x
    assert fast_slices < counting.slices
    assert (ref > 0).any()
    _agree(fast, ref)
    assert sum(seen) == volume.shape[0]  # progress covers every slice, skipped ones included
    assert findings["lesion_count"] == ref_findings["lesion_count"]
    assert abs(findings["liver"]["volume"]["value"] - ref_findings["liver"]["volume"]["value"]) <= (
        0.005 * ref_findings["liver"]["volume"]["value"]
    )
    assert findings["model"] == ref_findings["model"]


def test_fast_path_agrees_on_the_test_phantom() -> None:
    hu = phantom_hu(nz=9, ny=48, nx=56).astype(np.float32)
    fast, _ = run_liver_seg(hu, (5.0, 3.0, 3.0))
    ref, _ = run_liver_seg(hu, (5.0, 3.0, 3.0), dense=True)
    _agree(fast, ref)


def test_loaded_network_normalises_with_group_norms_and_gives_the_cards_output() -> None:
    card = model_card_get(key="liver_ct_seg")
    original = network_load(card=card)
    loaded = model_load(key="liver_ct_seg").net
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in loaded.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in loaded.modules())
    x = torch.rand((2, 3, 64, 64), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(loaded(x), original(x), atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def small_slab_and_reference() -> tuple[dict[str, Any], Any]:
    # One float32 reference for the three precisions below: it is the costly part.
    volume = ct_with_organ_slab(below=3, organ=5, above=3, demo_range=(8, 12), stride_yx=2)
    spacing = (5.0, 1.953125, 1.953125)
    model = model_load(key="liver_ct_seg")
    kwargs: dict[str, Any] = dict(
        net=model.net, device=model.device, volume_hu=volume, spacing_mm=spacing,
        preprocessing=model.card.data["preprocessing"], tta=["identity", "flip_x"],
    )
    ref, _, _ = segment_volume(**kwargs)
    return kwargs, ref


@pytest.mark.model
@pytest.mark.parametrize("precision", ["bfloat16", "mixed", "float32"])
def test_fast_path_agrees_with_the_reference_in_every_precision(
    precision: Precision, small_slab_and_reference: tuple[dict[str, Any], Any]
) -> None:
    # Each precision asked for explicitly (the configured one depends on the environment): the
    # labels match the float32 reference's.
    kwargs, ref = small_slab_and_reference
    fast, _, _ = segment_volume_organ(**kwargs, precision=precision)
    assert (ref > 0).sum() > 1000
    _agree(fast, ref)


def test_bf16_autocast_runs_convolutions_in_bfloat16_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    conv = torch.nn.Conv2d(1, 1, 3)
    x = torch.rand((1, 1, 8, 8))
    cpu = torch.device("cpu")
    with bf16_autocast(cpu, enabled=True):
        assert conv(x).dtype == torch.bfloat16
    with bf16_autocast(cpu, enabled=False):
        assert conv(x).dtype == torch.float32
    monkeypatch.delenv("CDSS_INFERENCE_BF16", raising=False)  # float32 unless the operator asks
    with bf16_autocast(cpu):
        assert conv(x).dtype == torch.float32
    monkeypatch.setenv("CDSS_INFERENCE_BF16", "0")
    with bf16_autocast(cpu):
        assert conv(x).dtype == torch.float32
    monkeypatch.setenv("CDSS_INFERENCE_BF16", "1")
    with bf16_autocast(cpu):
        assert conv(x).dtype == torch.bfloat16
    assert precision_configured(cpu) == "bfloat16"
    monkeypatch.setenv("CDSS_INFERENCE_BF16", "mixed")
    assert precision_configured(cpu) == "mixed"
    monkeypatch.setenv("CDSS_INFERENCE_BF16", "0")
    assert precision_configured(cpu) == "float32"


@pytest.mark.model
def test_mixed_precision_gives_the_float32_lesion_labels_and_runs_both_precisions() -> None:
    # The demo CT's slices with its lesions (5 mm apart as declared here), every other row and
    # column: in mixed precision the slices where a lesion is possible run in float32, the others
    # in bfloat16, and the lesion labels, probabilities and votes are the float32 fast path's.
    volume = ct_with_organ_slab(below=3, organ=8, above=3, demo_range=(6, 14), stride_yx=2)
    spacing = (5.0, 1.953125, 1.953125)
    model = model_load(key="liver_ct_seg")
    dtypes: list[torch.dtype] = []
    first_conv = next(m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d))
    hook = first_conv.register_forward_hook(lambda _m, _i, out: dtypes.extend([out.dtype] * out.shape[0]))
    kwargs: dict[str, Any] = dict(
        net=model.net, device=model.device, volume_hu=volume, spacing_mm=spacing,
        preprocessing=model.card.data["preprocessing"], tta=["identity", "flip_x"],
    )
    try:
        f32, f32_prob, f32_votes = segment_volume_organ(**kwargs, precision="float32")
        assert set(dtypes) == {torch.float32}
        dtypes.clear()
        mixed, mixed_prob, mixed_votes = segment_volume_organ(**kwargs, precision="mixed")
    finally:
        hook.remove()
    assert dtypes.count(torch.bfloat16) > 0 and dtypes.count(torch.float32) > 0
    lesion = f32 == 2
    assert lesion.sum() > 50  # the fixture has lesions: the comparison can fail
    np.testing.assert_array_equal(mixed == 2, lesion)
    slices = lesion.any(axis=(1, 2)) | (f32_votes > 0).any(axis=(1, 2))
    np.testing.assert_array_equal(mixed_votes[slices], f32_votes[slices])
    assert np.abs(mixed_prob[slices].astype(int) - f32_prob[slices]).max() <= 1  # u8 rounding of equal sums
    assert dice(mixed > 0, f32 > 0) >= AGREEMENT


def _full_survey(nz: int, step: int, shown: set[int]) -> tuple[int, int] | None:
    survey = sorted(set(range(0, nz, step)) | {nz - 1})
    found = [z for z in survey if z in shown]
    return (found[0], found[-1]) if found else None


@pytest.mark.parametrize(
    ("nz", "step", "shown"),
    [
        (150, 5, set(range(45, 105))),  # the bench's organ slab
        (150, 5, set(range(0, 150))),  # organ everywhere
        (150, 5, set(range(0, 12))),  # at the bottom of the scan
        (150, 5, set(range(141, 150))),  # at the top, the last slice only a survey slice
        (150, 5, set(range(60, 68))),  # between two coarse slices: the fine survey finds it
        (150, 5, set()),  # no organ
        (7, 5, {6}),  # fewer survey slices than one coarse step
        (40, 1, set(range(13, 30))),
    ],
)
def test_coarse_survey_finds_the_full_surveys_organ_range_with_fewer_passes(
    nz: int, step: int, shown: set[int]
) -> None:
    ran: list[int] = []
    span = _survey(nz=nz, step=step, run=ran.extend, shows=lambda z: z in shown)
    assert span == _full_survey(nz, step, shown)
    assert len(ran) == len(set(ran))  # no slice twice
    survey_slices = len(set(range(0, nz, step)) | {nz - 1})
    if len(shown) > SURVEY_COARSE * step and survey_slices > 2 * SURVEY_COARSE:
        assert len(ran) < survey_slices

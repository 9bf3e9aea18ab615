"""The liver model's fast path (survey in z, organ range only, TTA where a lesion is possible)
against the reference path (every slice, every TTA pass): the same labels, fewer forwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from inference.registry import model_card_get
from inference.runtime.liver import liver_segment_with_model, run_liver_seg
from inference.runtime.postprocessing import dice
from inference.runtime.predictor import LoadedModel, model_load, network_load
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

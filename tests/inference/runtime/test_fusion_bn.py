"""Batch norms folded into convolutions at model load: same outputs, or the original is kept."""

from __future__ import annotations

import numpy as np
import torch

from inference.runtime.fusion_bn import batchnorm_folded


def _with_running_stats(net: torch.nn.Module) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return net.eval()


def test_the_committed_classifier_is_folded_and_answers_the_same() -> None:
    from inference.registry import model_card_get
    from inference.runtime.predictor import model_load, network_load

    card = model_card_get(key="cxr_pneumonia")
    loaded = model_load(key="cxr_pneumonia")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.net.modules())
    original = network_load(card=card)
    x = torch.randn(3, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        np.testing.assert_allclose(loaded.net.cpu()(x).numpy(), original(x).numpy(), atol=1e-5)


def test_a_pair_that_is_not_conv_then_norm_in_forward_is_not_folded() -> None:
    class NormFirst(torch.nn.Module):
        """Named like a conv/bn pair, but the norm runs before the convolution."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.bn1 = torch.nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv1(self.bn1(x))

    net = _with_running_stats(NormFirst())
    probe = torch.randn(2, 4, 16, 16)
    assert batchnorm_folded(net, probe=probe) is net


def test_sequential_conv_norm_is_folded() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
    _with_running_stats(net)
    probe = torch.randn(2, 3, 16, 16)
    folded = batchnorm_folded(net, probe=probe)
    assert folded is not net and isinstance(folded, torch.nn.Sequential) and isinstance(folded[1], torch.nn.Identity)
    with torch.inference_mode():
        np.testing.assert_allclose(folded(probe).numpy(), net(probe).numpy(), atol=1e-5)

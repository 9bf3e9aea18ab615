"""Transposed convolutions that upsample by their own kernel size, rewritten for inference as a
1x1 convolution followed by a pixel shuffle.

A ConvTranspose2d with kernel size = stride = r (no padding, groups or dilation) writes each
input pixel's r x r output block from that pixel alone: output (c, r*i + dy, r*j + dx) is the
bias of c plus the sum over input channels of x(i, j) times weight(in, c, dy, dx). A 1x1
convolution with c*r*r outputs computes exactly those sums, and ``pixel_shuffle`` puts output
channel c*r*r + dy*r + dx at (c, r*i + dy, r*j + dx). On the CPU, oneDNN's transposed
convolution plus the copy of its output into PyTorch's layout took about a quarter of the liver
U-Net++'s forward; the rewrite made the forward about 11 % faster (``bench/bench_imaging.py``).

MONAI's ``UpCat`` (upsample, pad to the encoder's size, concatenate with the encoder's features)
then copied the upsampled features twice more: a pad that is a copy even when it adds nothing,
and the concatenation. ``FusedUpCat`` writes the shuffled features straight into the
concatenation's buffer; the values are the same, only copies are saved.

The rewritten network is checked against the original on a probe input.
"""

from __future__ import annotations

from typing import cast

import torch
from monai.networks.nets.basic_unet import UpCat

from inference.runtime.rewrite_check import rewritten_or_original


class ShuffleUpsample(torch.nn.Module):
    """The 1x1 convolution and pixel shuffle equal to ``transposed`` (see the module docstring)."""

    def __init__(self, transposed: torch.nn.ConvTranspose2d) -> None:
        super().__init__()
        in_channels, out_channels, r, _ = transposed.weight.shape
        self.factor = int(r)
        self.conv = torch.nn.Conv2d(in_channels, out_channels * r * r, kernel_size=1, bias=transposed.bias is not None)
        with torch.no_grad():
            # (in, out, dy, dx) -> (out, dy, dx, in): output channel out*r*r + dy*r + dx.
            weight = transposed.weight.permute(1, 2, 3, 0).reshape(out_channels * r * r, in_channels, 1, 1)
            self.conv.weight.copy_(weight)
            if transposed.bias is not None and self.conv.bias is not None:
                self.conv.bias.copy_(transposed.bias.repeat_interleave(r * r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pixel_shuffle(self.conv(x), self.factor)


class FusedUpCat(torch.nn.Module):
    """MONAI's ``UpCat`` with a rewritable transposed convolution: the same function, fewer copies."""

    def __init__(self, upcat: UpCat, transposed: torch.nn.ConvTranspose2d) -> None:
        super().__init__()
        self.upsample = ShuffleUpsample(transposed)
        self.convs = upcat.convs
        self.is_pad = upcat.is_pad

    def forward(self, x: torch.Tensor, x_e: torch.Tensor | None) -> torch.Tensor:
        r = self.upsample.factor
        if x_e is None:
            return self.convs(self.upsample(x))
        if x_e.shape[2:] != (x.shape[2] * r, x.shape[3] * r):
            # An odd edge upstream: MONAI's replicate padding, as in UpCat.
            x_0 = self.upsample(x)
            if self.is_pad:
                pad = [0, int(x_e.shape[-1] != x_0.shape[-1]), 0, int(x_e.shape[-2] != x_0.shape[-2])]
                x_0 = torch.nn.functional.pad(x_0, pad, "replicate")
            return self.convs(torch.cat([x_e, x_0], dim=1))
        y = self.upsample.conv(x)
        n, c_rr, h, w = y.shape
        c = c_rr // (r * r)
        c_e = x_e.shape[1]
        out = torch.empty((n, c_e + c, h * r, w * r), dtype=y.dtype, device=y.device)
        out[:, :c_e] = x_e
        # pixel_shuffle into the buffer: channel c*r*r + dy*r + dx -> (c, r*i + dy, r*j + dx).
        out[:, c_e:].view(n, c, h, r, w, r).copy_(y.view(n, c, r, r, h, w).permute(0, 1, 4, 2, 5, 3))
        return self.convs(out)


def _upcat_transposed(module: torch.nn.Module) -> torch.nn.ConvTranspose2d | None:
    """The rewritable transposed convolution that is all of ``module``'s upsampling, if any."""
    if type(module) is not UpCat:
        return None
    layers = list(module.upsample.children()) if isinstance(module.upsample, torch.nn.Sequential) else []
    if len(layers) == 1 and _rewritable(layers[0]):
        assert isinstance(layers[0], torch.nn.ConvTranspose2d)
        return layers[0]
    return None


def _rewritable(module: torch.nn.Module) -> bool:
    if type(module) is not torch.nn.ConvTranspose2d:
        return False
    kh, kw = module.kernel_size
    return (
        kh == kw
        and module.stride == (kh, kw)
        and module.padding == (0, 0)
        and module.output_padding == (0, 0)
        and module.dilation == (1, 1)
        and module.groups == 1
    )


def _rewrite_in_place(module: torch.nn.Module) -> int:
    rewritten = 0
    for name, child in module.named_children():
        transposed = _upcat_transposed(child)
        if transposed is not None:
            setattr(module, name, FusedUpCat(cast(UpCat, child), transposed))
            rewritten += 1
        elif _rewritable(child):
            assert isinstance(child, torch.nn.ConvTranspose2d)
            setattr(module, name, ShuffleUpsample(child))
            rewritten += 1
        else:
            rewritten += _rewrite_in_place(child)
    return rewritten


def transposed_convs_as_shuffles(net: torch.nn.Module, *, probe: torch.Tensor) -> torch.nn.Module:
    """``net`` (in eval mode) with each rewritable transposed convolution replaced, or ``net``
    itself when there is none or the rewritten copy does not give the same output on ``probe``."""
    return rewritten_or_original(
        net, rewrite=_rewrite_in_place, probe=probe, what="rewriting transposed convolutions"
    )

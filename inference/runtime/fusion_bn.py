"""Batch normalisation folded into the convolution before it, for inference.

In eval mode a BatchNorm after a convolution is an affine map per channel, so it can be folded
into that convolution's weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``): the
same function with one operation fewer per pair. On the CPU this made the chest X-ray ResNet's
forward about 13 % faster (``bench/bench_imaging.py`` (d)).

Which BatchNorm follows which convolution is known only to the network's ``forward``, so pairs
are taken by name (``convN``/``bnN`` siblings, as in MONAI's ResNet blocks, and ``[Conv, BN]``
sequences, as in its downsampling paths) and the result is checked against the original on a
probe input; on any difference the original network is kept.
"""

from __future__ import annotations

from typing import cast

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils.fusion import fuse_conv_bn_eval

from inference.runtime.rewrite_check import rewritten_or_original

_CONV_BN = (
    (torch.nn.Conv1d, torch.nn.BatchNorm1d),
    (torch.nn.Conv2d, torch.nn.BatchNorm2d),
    (torch.nn.Conv3d, torch.nn.BatchNorm3d),
)

def _pair(conv: torch.nn.Module, norm: torch.nn.Module) -> bool:
    return any(type(conv) is c and type(norm) is n for c, n in _CONV_BN) and bool(
        getattr(norm, "track_running_stats", False)
    )


def _fold_in_place(module: torch.nn.Module) -> int:
    folded = 0
    children = dict(module.named_children())
    for name, child in children.items():
        if not name.startswith("conv"):
            continue
        norm_name = "bn" + name[len("conv"):]
        norm = children.get(norm_name)
        if norm is not None and _pair(child, norm):
            setattr(module, name, fuse_conv_bn_eval(cast(_ConvNd, child), cast(_BatchNorm, norm)))
            setattr(module, norm_name, torch.nn.Identity())
            folded += 1
    if isinstance(module, torch.nn.Sequential):
        for i in range(len(module) - 1):
            if _pair(module[i], module[i + 1]):
                module[i] = fuse_conv_bn_eval(cast(_ConvNd, module[i]), cast(_BatchNorm, module[i + 1]))
                module[i + 1] = torch.nn.Identity()
                folded += 1
    for child in module.children():
        folded += _fold_in_place(child)
    return folded


def batchnorm_folded(net: torch.nn.Module, *, probe: torch.Tensor) -> torch.nn.Module:
    """``net`` (in eval mode) with each BatchNorm folded into its convolution, or ``net`` itself
    when there is nothing to fold or the folded copy does not give the same output on ``probe``."""
    return rewritten_or_original(net, rewrite=_fold_in_place, probe=probe, what="folding batch norms")

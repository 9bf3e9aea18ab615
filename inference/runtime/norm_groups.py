"""Instance norms rewritten for inference as group norms with one channel per group.

``InstanceNorm2d(C, affine=True, track_running_stats=False)`` normalises each channel of each
sample over its spatial positions and applies a per-channel scale and shift; ``GroupNorm(C, C)``
computes the same function (C groups of one channel each, the same per-channel affine). On the
CPU PyTorch's group-norm kernel takes about half the time of its instance-norm kernel (one fused
pass per channel instead of a reshape to a batch norm); the liver U-Net++ spends about a sixth of
its forward in its instance norms. The rewritten network is checked against the original on a
probe input.
"""

from __future__ import annotations

import torch

from inference.runtime.rewrite_check import rewritten_or_original


def _rewritable(module: torch.nn.Module) -> bool:
    return (
        type(module) in (torch.nn.InstanceNorm1d, torch.nn.InstanceNorm2d, torch.nn.InstanceNorm3d)
        and not module.track_running_stats
    )


def _group_norm(norm: torch.nn.Module) -> torch.nn.GroupNorm:
    channels = int(norm.num_features)  # type: ignore[arg-type]
    affine = bool(norm.affine)
    out = torch.nn.GroupNorm(channels, channels, eps=float(norm.eps), affine=affine)  # type: ignore[arg-type]
    if affine:
        with torch.no_grad():
            out.weight.copy_(norm.weight)  # type: ignore[arg-type]
            out.bias.copy_(norm.bias)  # type: ignore[arg-type]
    return out


def _rewrite_in_place(module: torch.nn.Module) -> int:
    rewritten = 0
    for name, child in module.named_children():
        if _rewritable(child):
            setattr(module, name, _group_norm(child))
            rewritten += 1
        else:
            rewritten += _rewrite_in_place(child)
    return rewritten


def instance_norms_as_group_norms(net: torch.nn.Module, *, probe: torch.Tensor) -> torch.nn.Module:
    """``net`` (in eval mode) with each instance norm that keeps no running statistics replaced by
    the equal group norm, or ``net`` itself when there is none or the outputs differ on ``probe``."""
    return rewritten_or_original(
        net, rewrite=_rewrite_in_place, probe=probe, what="rewriting instance norms as group norms"
    )

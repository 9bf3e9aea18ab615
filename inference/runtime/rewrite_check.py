"""One check for every inference-only rewrite of a loaded network: the rewritten copy must give
the original's output on a probe input, float32 rounding aside, or the original is kept."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import torch

logger = logging.getLogger(__name__)

# Agreement asked of a rewritten network: float32 rounding differs, nothing else may.
TOLERANCE = 1e-4


def rewritten_or_original(
    net: torch.nn.Module, *, rewrite: Callable[[torch.nn.Module], int], probe: torch.Tensor, what: str
) -> torch.nn.Module:
    """A copy of ``net`` (in eval mode) changed in place by ``rewrite`` (which returns how many
    places it changed), or ``net`` itself when nothing changed or the outputs differ."""
    candidate = copy.deepcopy(net).eval()
    if rewrite(candidate) == 0:
        return net
    with torch.inference_mode():
        expected, got = net(probe), candidate(probe)
    if not outputs_close(got, expected):
        logger.warning("%s changed %s's output; keeping the original network", what, type(net).__name__)
        return net
    return candidate


def outputs_close(got: Any, expected: Any) -> bool:
    """Whether two networks' outputs (a tensor or a list of them) agree within ``TOLERANCE``."""
    gots, expecteds = _tensors(got), _tensors(expected)
    return len(gots) == len(expecteds) and all(_close(g, e) for g, e in zip(gots, expecteds, strict=False))


def _tensors(output: Any) -> list[torch.Tensor]:
    """A network's output as a list of tensors (MONAI's U-Net++ returns one per supervision head)."""
    return list(output) if isinstance(output, list | tuple) else [output]


def _close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    scale = max(1.0, float(expected.abs().max()))
    return got.shape == expected.shape and float((got - expected).abs().max()) <= TOLERANCE * scale

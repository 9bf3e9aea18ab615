"""Network construction from a model card's ``architecture`` block (configs are data, not code).

Only MONAI networks are used: the card names the class and its keyword arguments, so a card
fully determines the module whose ``state_dict`` its weights file holds. Imports only torch and
MONAI at module level, so the GPU training script (``scripts/gpu/``) builds the very same module
on a machine without Django.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.networks.nets import BasicUNet, BasicUNetPlusPlus, ResNet


class UNetPlusPlusLogits(torch.nn.Module):
    """BasicUNetPlusPlus returns a list (one entry per supervision head); inference needs one tensor.

    The wrapper keeps the state-dict keys under ``net.`` and returns the last (full-depth) head.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.net = BasicUNetPlusPlus(**kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[-1] if isinstance(out, list | tuple) else out


def network_build(*, architecture: dict[str, Any]) -> torch.nn.Module:
    """Build the (untrained) module named by ``architecture = {"name": ..., "kwargs": {...}}``."""
    name = architecture.get("name")
    kwargs = dict(architecture.get("kwargs", {}))
    if name == "monai.networks.nets.ResNet":
        return ResNet(**kwargs)
    if name == "monai.networks.nets.BasicUNetPlusPlus":
        return UNetPlusPlusLogits(**kwargs)
    if name == "monai.networks.nets.BasicUNet":
        return BasicUNet(**kwargs)
    from inference.registry import ModelCardInvalid  # lazy: keeps this module free of Django

    raise ModelCardInvalid(f"unknown architecture {name!r}", detail={"architecture": name})


def cxr_architecture(*, in_channels: int, widths: list[int], layers: list[int]) -> dict[str, Any]:
    """The compact 2D ResNet used for chest X-ray classification (two classes)."""
    return {
        "name": "monai.networks.nets.ResNet",
        "kwargs": {
            "block": "basic",
            "layers": layers,
            "block_inplanes": widths,
            "spatial_dims": 2,
            "n_input_channels": in_channels,
            "conv1_t_size": 7,
            "conv1_t_stride": 2,
            "num_classes": 2,
        },
        "gradcam_layer": "layer4",
    }


def liver_architecture(*, in_channels: int, features: list[int]) -> dict[str, Any]:
    """2D U-Net++ (three classes: background, liver, lesion) over a stack of adjacent slices."""
    return {
        "name": "monai.networks.nets.BasicUNetPlusPlus",
        "kwargs": {
            "spatial_dims": 2,
            "in_channels": in_channels,
            "out_channels": 3,
            "features": features,
            "deep_supervision": False,
        },
    }


def brain_architecture(*, name: str, in_channels: int, features: list[int]) -> dict[str, Any]:
    """2D U-Net or U-Net++ (MONAI ``BasicUNet`` / ``BasicUNetPlusPlus``) for the brain tumour labels 0-4."""
    kwargs: dict[str, Any] = {
        "spatial_dims": 2,
        "in_channels": in_channels,
        "out_channels": 5,
        "features": features,
    }
    if name == "monai.networks.nets.BasicUNetPlusPlus":
        kwargs["deep_supervision"] = False
    return {"name": name, "kwargs": kwargs}

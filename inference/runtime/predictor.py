"""Model loading (hash-checked, cached once per process) and the forward passes.

Nothing here runs at import time: the first call in a worker process builds the network,
checks the weights' SHA-256 against the card, loads them with ``weights_only=True`` and moves
the module to CUDA when present, CPU otherwise. Prefork workers import this module before they
fork, so CUDA must not be touched at import.
"""

from __future__ import annotations

import os
import pickle
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from inference.registry import (
    ModelCard,
    ModelInputInvalid,
    ModelWeightsCorrupt,
    model_card_get,
    model_weights_verify,
)
from inference.runtime.networks import network_build

_CACHE: dict[tuple[str, str, str, int], LoadedModel] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    net: torch.nn.Module
    device: torch.device

    def provenance(self) -> dict[str, str]:
        """What every result records about the model that produced it."""
        return {"key": self.card.key, "version": self.card.version, "weights_sha256": self.card.weights_sha256}


def runtime_device() -> torch.device:
    """CUDA when present (and not disabled with ``CDSS_INFERENCE_DEVICE=cpu``), CPU otherwise."""
    wanted = os.environ.get("CDSS_INFERENCE_DEVICE", "auto")
    if wanted != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def model_load_from_card(*, card: ModelCard) -> LoadedModel:
    """Verify, load and cache the model of ``card`` (one copy per process and weights hash)."""
    cache_key = (card.key, card.version, card.weights_sha256, os.getpid())
    with _LOCK:
        hit = _CACHE.get(cache_key)
        if hit is not None:
            return hit
        path = model_weights_verify(card=card)
        net = network_build(architecture=card.data["architecture"])
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise TypeError("weights file does not hold a state dict")
            net.load_state_dict(state, strict=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError,
                zipfile.BadZipFile) as exc:
            raise ModelWeightsCorrupt(
                "weights file cannot be loaded into the card's architecture",
                detail={"key": card.key, "version": card.version, "error": type(exc).__name__},
            ) from exc
        device = runtime_device()
        net.to(device).eval()
        loaded = LoadedModel(card=card, net=net, device=device)
        _CACHE[cache_key] = loaded
        return loaded


def model_load(*, key: str, version: str | None = None) -> LoadedModel:
    return model_load_from_card(card=model_card_get(key=key, version=version))


def cache_clear() -> None:
    with _LOCK:
        _CACHE.clear()


@torch.inference_mode()
def logits_batched(
    *, model: LoadedModel, inputs: NDArray[np.float32], batch: int = 32, progress: Callable[[int], None] | None = None
) -> NDArray[np.float32]:
    """Forward ``inputs`` (N, C, H, W) in batches; returns float32 logits on the CPU."""
    out = []
    for i in range(0, inputs.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch])).to(model.device)
        out.append(model.net(x).float().cpu().numpy())
        if progress is not None:
            progress(min(batch, inputs.shape[0] - i))
    if not out:
        raise ModelInputInvalid("no images given")
    return np.concatenate(out)


def gradcam_maps(*, model: LoadedModel, inputs: NDArray[np.float32], class_index: int, batch: int = 16) -> NDArray[np.float32]:
    """Grad-CAM (Selvaraju et al. 2017) of ``class_index`` at the card's ``gradcam_layer``: (N, H, W) in [0, 1]."""
    from monai.visualize import GradCAM

    layer = str(model.card.data["architecture"].get("gradcam_layer", "layer4"))
    cam = GradCAM(nn_module=model.net, target_layers=layer)
    maps = []
    for i in range(0, inputs.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch])).to(model.device)
        with torch.enable_grad():
            m = cam(x, class_idx=class_index)
        maps.append(m[:, 0].detach().float().cpu().numpy())
    model.net.zero_grad(set_to_none=True)
    return np.concatenate(maps)


def _probs(logits: NDArray[Any], temperature: float = 1.0) -> NDArray[np.float64]:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def softmax_calibrated(logits: NDArray[Any], *, temperature: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Raw and temperature-scaled class probabilities."""
    return _probs(logits), _probs(logits, temperature)

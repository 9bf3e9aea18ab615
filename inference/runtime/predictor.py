"""Model loading (hash-checked, cached once per process) and the forward passes.

Nothing here runs at import time: the first call in a worker process builds the network,
checks the weights' SHA-256 against the card, loads them with ``weights_only=True`` and moves
the module to CUDA when present, CPU otherwise. Prefork workers import this module before they
fork, so CUDA must not be touched at import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

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
from inference.runtime.fusion_bn import batchnorm_folded
from inference.runtime.networks import network_build
from inference.runtime.norm_groups import instance_norms_as_group_norms
from inference.runtime.onnx_backend import ort_network
from inference.runtime.upsample_shuffle import transposed_convs_as_shuffles

logger = logging.getLogger(__name__)

_CACHE: dict[tuple[str, str, str, str, int], LoadedModel] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedModel:
    card: ModelCard
    net: torch.nn.Module
    device: torch.device
    # The card's network run by ONNX Runtime (checked against torch at load), for float32
    # forwards on the CPU; None: torch runs every forward (see ``runtime_configured``).
    exported: torch.nn.Module | None = None

    def network(self, *, precision: Precision = "float32") -> torch.nn.Module:
        """The network for forwards in ``precision``: the exported one for float32 when there is
        one, else the torch network (bfloat16 needs torch's autocast)."""
        if self.exported is not None and precision == "float32":
            return self.exported
        return self.net

    def provenance(self) -> dict[str, str]:
        """What every result records about the model that produced it."""
        return {
            "key": self.card.key,
            "version": self.card.version,
            "weights_sha256": self.card.weights_sha256,
        }


def runtime_device() -> torch.device:
    """CUDA when present (and not disabled with ``CDSS_INFERENCE_DEVICE=cpu``), CPU otherwise."""
    wanted = os.environ.get("CDSS_INFERENCE_DEVICE", "auto")
    if wanted != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


Runtime = Literal["auto", "torch", "onnxruntime"]


def runtime_configured() -> Runtime:
    """What ``CDSS_INFERENCE_RUNTIME`` asks to run the segmentation networks' float32 forwards on
    the CPU: "auto" (unset) ONNX Runtime where its export of the card's network gives torch's
    output, torch otherwise; "onnxruntime" the same, with a warning whenever torch runs instead;
    "torch" torch always. Chest X-ray classification (Grad-CAM needs autograd), CUDA and
    bfloat16 forwards always run in torch."""
    wanted = os.environ.get("CDSS_INFERENCE_RUNTIME", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "torch", "onnxruntime"):
        raise ValueError(f"CDSS_INFERENCE_RUNTIME must be auto, torch or onnxruntime, not {wanted!r}")
    return wanted  # type: ignore[return-value]


def runtime_of(net: torch.nn.Module) -> str:
    """The library (and its version) that runs ``net``'s forward, for the results' provenance."""
    return str(getattr(net, "runtime", f"torch {torch.__version__}"))


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 products natively (AVX512-BF16 or AMX), so that oneDNN's
    bfloat16 convolutions are faster than its float32 ones rather than emulated."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


Precision = Literal["float32", "bfloat16", "mixed"]


def precision_configured(device: torch.device) -> Precision:
    """The precision ``CDSS_INFERENCE_BF16`` asks for on ``device``: unset or "0" float32, "1"
    bfloat16, "mixed" bfloat16 with float32 wherever a lesion is possible (the liver's
    ``segment_volume_organ``), "auto" bfloat16 on a CPU with native bfloat16 only."""
    wanted = os.environ.get("CDSS_INFERENCE_BF16", "0")
    if wanted == "mixed":
        return "mixed"
    if wanted == "1" or (wanted == "auto" and device.type == "cpu" and cpu_bf16_native()):
        return "bfloat16"
    return "float32"


def bf16_configured(device: torch.device) -> bool:
    """Whether ``CDSS_INFERENCE_BF16`` asks for bfloat16 convolutions on ``device`` (alone or
    mixed; see :func:`bf16_autocast`)."""
    return precision_configured(device) != "float32"


@contextlib.contextmanager
def bf16_autocast(device: torch.device, *, enabled: bool | None = None) -> Iterator[None]:
    """Convolutions in bfloat16 (float32 accumulation, norms and softmax in float32): always when
    ``enabled`` is True, never when False; when None, as ``CDSS_INFERENCE_BF16`` says: unset or "0"
    never, "1" or "mixed" always (:func:`precision_configured`), "auto" on a CPU with native
    bfloat16 only (on CUDA "auto" keeps float32: the float32 forward is fast there already). Float32 is the default because the model card's
    metrics were measured in float32, and bfloat16 rounding can move a small lesion candidate
    across the card's ``min_lesion_ml``: the served lesion findings must not depend on it."""
    if enabled is None:
        enabled = bf16_configured(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled):
        yield


def network_load(*, card: ModelCard) -> torch.nn.Module:
    """The card's network with its verified weights, on the CPU in eval mode, exactly as the
    architecture defines it: none of the inference rewrites ``model_load_from_card`` applies."""
    path = model_weights_verify(card=card)
    net = network_build(architecture=card.data["architecture"])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError("weights file does not hold a state dict")
        net.load_state_dict(state, strict=True)
    except (
        RuntimeError,
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
    ) as exc:
        raise ModelWeightsCorrupt(
            "weights file cannot be loaded into the card's architecture",
            detail={"key": card.key, "version": card.version, "error": type(exc).__name__},
        ) from exc
    return net.eval()


def model_load_from_card(*, card: ModelCard) -> LoadedModel:
    """Verify, load and cache the model of ``card`` (one copy per process and weights hash)."""
    # The file's path is part of the key: another copy of the same card (elsewhere on disk) is
    # verified on its own rather than served from the cache.
    cache_key = (card.key, card.version, card.weights_sha256, str(card.weights_path.resolve()), os.getpid())
    with _LOCK:
        hit = _CACHE.get(cache_key)
        if hit is not None:
            return hit
        original = network_load(card=card)
        probe = probe_input(card)
        net = transposed_convs_as_shuffles(batchnorm_folded(original, probe=probe), probe=probe)
        net = instance_norms_as_group_norms(net, probe=probe)
        device = runtime_device()
        net.to(device)
        net.requires_grad_(False)  # inference only; Grad-CAM takes gradients w.r.t. activations
        exported = _exported(card=card, original=original, served=net, device=device)
        loaded = LoadedModel(card=card, net=net, device=device, exported=exported)
        _CACHE[cache_key] = loaded
        return loaded


def _exported(
    *, card: ModelCard, original: torch.nn.Module, served: torch.nn.Module, device: torch.device
) -> torch.nn.Module | None:
    """The card's network in ONNX Runtime where ``runtime_configured`` asks for it and it can run:
    segmentation cards on the CPU."""
    wanted = runtime_configured()
    if wanted == "torch" or card.task != "segmentation":
        return None
    exported = None
    if device.type == "cpu":
        threads = torch.get_num_threads()
        exported = ort_network(original=original, served=served, probe=probe_input(card), threads=threads)
    if exported is None and wanted == "onnxruntime":
        logger.warning("CDSS_INFERENCE_RUNTIME=onnxruntime, but %s %s runs in torch", card.key, card.version)
    return exported


def probe_input(card: ModelCard) -> torch.Tensor:
    """A fixed random input of the card's shape, to check a transformed network against the original."""
    kwargs = card.data["architecture"].get("kwargs", {})
    channels = int(kwargs.get("n_input_channels", kwargs.get("in_channels", 1)))
    size = int(card.data.get("preprocessing", {}).get("size", 64))
    spatial = int(kwargs.get("spatial_dims", 2))
    generator = torch.Generator().manual_seed(0)
    return torch.randn((2, channels) + (size,) * spatial, generator=generator)


_BY_NAME: dict[tuple[str, str | None, int], LoadedModel] = {}


def model_load(*, key: str, version: str | None = None) -> LoadedModel:
    """The model ``key`` (newest version when ``version`` is None), resolved and loaded once per process."""
    name = (key, version, os.getpid())
    hit = _BY_NAME.get(name)
    if hit is None:
        hit = model_load_from_card(card=model_card_get(key=key, version=version))
        _BY_NAME[name] = hit
    return hit


def cache_clear() -> None:
    with _LOCK:
        _CACHE.clear()
        _BY_NAME.clear()


def _batches(
    model: LoadedModel, inputs: NDArray[np.float32], batch: int, progress: Callable[[int], None] | None
) -> Iterator[torch.Tensor]:
    """``inputs`` (N, ...) in batches on the model's device; ``progress`` hears of each batch once
    the caller is done with it."""
    for i in range(0, inputs.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(inputs[i : i + batch])).to(model.device)
        yield x
        if progress is not None:
            progress(x.shape[0])


@torch.inference_mode()
def logits_batched(
    *,
    model: LoadedModel,
    inputs: NDArray[np.float32],
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> NDArray[np.float32]:
    """Forward ``inputs`` (N, C, H, W) in batches; returns float32 logits on the CPU."""
    out = [model.net(x).float().cpu().numpy() for x in _batches(model, inputs, batch, progress)]
    if not out:
        raise ModelInputInvalid("no images given")
    return np.concatenate(out)


def logits_and_gradcam(
    *,
    model: LoadedModel,
    inputs: NDArray[np.float32],
    class_indices: list[int],
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.float32], dict[int, NDArray[np.float32]]]:
    """Logits and Grad-CAM maps (Selvaraju et al. 2017) from ONE forward pass per batch.

    The activations of the card's ``gradcam_layer`` are detached and made to require grad in a
    forward hook, so autograd records only the head after that layer (the weights are frozen):
    the gradients of each class logit w.r.t. the activations cost a tiny backward through the
    head. Maps: ReLU(sum_c mean(dy/dA_c) * A_c), bilinearly upsampled to the input size, scaled
    to [0, 1] per image (as MONAI's ``GradCAM`` does); (N, H, W) per requested class.
    """
    layer_name = str(model.card.data["architecture"].get("gradcam_layer", "layer4"))
    try:
        layer = model.net.get_submodule(layer_name)
    except AttributeError as exc:
        raise ModelInputInvalid(
            "gradcam_layer not in the network", code="model_card_invalid", detail={"layer": layer_name}
        ) from exc
    store: dict[str, torch.Tensor] = {}

    def hook(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        out = output.detach().requires_grad_(True)
        store["a"] = out
        return out

    head = _pooled_linear_head(model.net, layer_name)
    if head is not None:
        return _gradcam_closed_form(model=model, layer=layer, head=head, inputs=inputs,
                                    class_indices=class_indices, batch=batch, progress=progress)
    handle = layer.register_forward_hook(hook)
    logits_out: list[NDArray[np.float32]] = []
    maps: dict[int, list[NDArray[np.float32]]] = {c: [] for c in class_indices}
    try:
        for x in _batches(model, inputs, batch, progress):
            with torch.enable_grad():
                logits = model.net(x)
                acts = store.pop("a")
                for n, c in enumerate(class_indices):
                    (grad,) = torch.autograd.grad(
                        logits[:, c].sum(), acts, retain_graph=n < len(class_indices) - 1
                    )
                    with torch.no_grad():
                        cam = torch.relu(
                            (grad.mean(dim=(2, 3), keepdim=True) * acts).sum(dim=1, keepdim=True)
                        )
                        cam = torch.nn.functional.interpolate(
                            cam, size=x.shape[2:], mode="bilinear", align_corners=False
                        )[:, 0]
                        cam = _unit_range(cam, dims=(1, 2))
                    maps[c].append(cam.float().cpu().numpy())
            logits_out.append(logits.detach().float().cpu().numpy())
    finally:
        handle.remove()
    return _gradcam_joined(logits_out, maps)


def _gradcam_joined(
    logits_out: list[NDArray[np.float32]], maps: dict[int, list[NDArray[np.float32]]]
) -> tuple[NDArray[np.float32], dict[int, NDArray[np.float32]]]:
    """Per-batch logits and maps of either Grad-CAM path, joined over the batches."""
    if not logits_out:
        raise ModelInputInvalid("no images given")
    return np.concatenate(logits_out), {c: np.concatenate(v) for c, v in maps.items()}


def _probs(logits: NDArray[Any], temperature: float = 1.0) -> NDArray[np.float64]:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _unit_range(maps: torch.Tensor, *, dims: tuple[int, int]) -> torch.Tensor:
    """Scale each map to [0, 1] over ``dims`` (as MONAI's GradCAM does); a flat map becomes 0."""
    lo = maps.amin(dim=dims, keepdim=True)
    span = maps.amax(dim=dims, keepdim=True) - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(1e-12), torch.zeros_like(maps))


def _pooled_linear_head(net: torch.nn.Module, layer_name: str) -> torch.nn.Linear | None:
    """The final linear layer when the Grad-CAM layer feeds it through a global average pool
    alone (MONAI's ResNet: ``layer4 -> avgpool -> flatten -> fc``); otherwise None."""
    avgpool, fc = getattr(net, "avgpool", None), getattr(net, "fc", None)
    pools = (torch.nn.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool3d)
    if layer_name != "layer4" or not isinstance(fc, torch.nn.Linear) or not isinstance(avgpool, pools):
        return None
    if getattr(avgpool, "output_size", None) not in (1, (1,), (1, 1), (1, 1, 1)):
        return None
    return fc


def _gradcam_closed_form(
    *,
    model: LoadedModel,
    layer: torch.nn.Module,
    head: torch.nn.Linear,
    inputs: NDArray[np.float32],
    class_indices: list[int],
    batch: int,
    progress: Callable[[int], None] | None,
) -> tuple[NDArray[np.float32], dict[int, NDArray[np.float32]]]:
    """Grad-CAM without a backward pass, for a global-average-pool + linear head.

    There y_c = sum_k W_ck mean_ij A_kij + b_c, so dy_c/dA_kij = W_ck / (H W) and the Grad-CAM
    weight of channel k (the spatial mean of that gradient) is W_ck / (H W): the map is
    ReLU(sum_k W_ck A_k) / (H W). It is the same map as the autograd path, with a test to show
    it, from one inference-mode forward; the backward cost about a third of a forward.
    """
    store: dict[str, torch.Tensor] = {}

    def keep(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        store["a"] = output

    handle = layer.register_forward_hook(keep)
    logits_out: list[NDArray[np.float32]] = []
    maps: dict[int, list[NDArray[np.float32]]] = {c: [] for c in class_indices}
    weights = head.weight[class_indices]  # (classes, K)
    try:
        with torch.inference_mode():
            for x in _batches(model, inputs, batch, progress):
                logits = model.net(x)
                acts = store.pop("a")
                spatial = acts.shape[2] * acts.shape[3]
                cams = torch.relu(torch.einsum("ck,nkhw->cnhw", weights.to(acts.dtype), acts) / spatial)
                cams = torch.nn.functional.interpolate(cams, size=x.shape[2:], mode="bilinear", align_corners=False)
                cams = _unit_range(cams, dims=(2, 3))
                for n, c in enumerate(class_indices):
                    maps[c].append(cams[n].float().cpu().numpy())
                logits_out.append(logits.float().cpu().numpy())
    finally:
        handle.remove()
    return _gradcam_joined(logits_out, maps)


def softmax_calibrated(
    logits: NDArray[Any], *, temperature: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Raw and temperature-scaled class probabilities."""
    return _probs(logits), _probs(logits, temperature)

"""Chest X-ray classification pipeline: preprocess -> forward -> calibrate -> threshold -> Grad-CAM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inference.registry import ModelCardInvalid, ModelInputInvalid, sha256_file
from inference.runtime.predictor import (
    LoadedModel,
    logits_and_gradcam,
    logits_batched,
    model_load,
    softmax_calibrated,
)
from inference.runtime.preprocessing import cxr_preprocess, cxr_to_gray_u8, resize_u8

# Decisions beside the classes: the model abstains rather than guess.
UNCERTAIN = "uncertain"
OUT_OF_DISTRIBUTION = "out_of_distribution"
OOD_MESSAGES = {
    "feature_distance": "The image is far from every training image in the network's feature space.",
    "colour_image": "The image is in colour; radiographs are grey (a photograph of a film or a screen?).",
    "asymmetric_view": "The image is not left-right symmetric like a frontal chest radiograph (lateral view, or not a chest?).",
    "low_dynamic_range": "The image has almost no contrast (blank, or a photograph with glare?).",
}


def equalise_midrank(gray: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Histogram equalisation by mid-rank: each 8-bit level -> the mean rank of its pixels, in (0, 1).

    Any monotone change of exposure, gamma or window maps the same pixels to the same ranks,
    which is why 1.1.0 sees this instead of the grey values (the training code holds a batch
    version, ``cxr_robust.equalise_torch``; a test keeps the two equal).
    """
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(hist)
    mid = (cdf - hist / 2.0) / gray.size
    return mid.astype(np.float32)[gray]


def cxr_input(image: NDArray[Any], *, settings: dict[str, Any]) -> NDArray[np.float32]:
    """One image -> (C, S, S) network input, per the card's preprocessing block."""
    if settings.get("colour") != "equalised":
        return cxr_preprocess(image, settings=settings)
    gray = resize_u8(cxr_to_gray_u8(image), size=int(settings["size"]))
    x = (equalise_midrank(gray) - float(settings["mean"])) / float(settings["std"])
    return x[None].astype(np.float32)


def image_statistics(image: NDArray[Any]) -> dict[str, float]:
    """Statistics of the raw image that separate frontal radiographs from other pictures.

    ``chroma``: mean channel spread of an RGB image (0 for grey); ``symmetry``: correlation of the
    image with its mirror image (a frontal chest is roughly left-right symmetric); ``dynamic_range``:
    1st-99th percentile spread of the grey levels, in [0, 1].
    """
    arr = np.asarray(image)
    chroma = 0.0
    if arr.ndim == 3 and arr.shape[-1] >= 3:
        rgb = arr[..., :3].astype(np.float32)
        rgb = rgb / max(float(rgb.max()), 1.0)
        chroma = float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)))
    gray = resize_u8(cxr_to_gray_u8(arr), size=64).astype(np.float64)
    a = gray - gray.mean()
    b = a[:, ::-1]
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    symmetry = float((a * b).sum() / denom) if denom > 0 else 0.0
    lo, hi = np.percentile(gray, [1, 99])
    return {"chroma": chroma, "symmetry": symmetry, "dynamic_range": float(hi - lo) / 255.0}


_OOD_CACHE: dict[tuple[str, str], dict[str, Any]] = {}
_STAT_REASONS = {"chroma": "colour_image", "symmetry": "asymmetric_view", "dynamic_range": "low_dynamic_range"}


def _ood_reference(model: LoadedModel) -> dict[str, Any] | None:
    """The card's OOD block with its arrays (mean and precision of the training features), or None."""
    block = model.card.data.get("ood")
    if not isinstance(block, dict):
        return None
    path = model.card.directory / str(block["file"])
    cached = _OOD_CACHE.get((str(path), str(block["sha256"])))
    if cached is not None:
        return cached
    if not path.is_file() or sha256_file(path) != block["sha256"]:
        raise ModelCardInvalid("OOD reference file missing or altered", detail={"key": model.card.key})
    with np.load(path, allow_pickle=False) as z:
        ref = {**block, "mean": z["mean"].astype(np.float64), "precision": z["precision"].astype(np.float64)}
    _OOD_CACHE[(str(path), str(block["sha256"]))] = ref
    return ref


def ood_assess(
    *, stats: dict[str, float], features: NDArray[Any] | None, reference: dict[str, Any]
) -> dict[str, Any]:
    """Out-of-distribution verdict for one image: reasons (stable codes), the feature distance and its limit."""
    reasons = []
    for name, (lo, hi) in reference.get("image_limits", {}).items():
        value = stats.get(name)
        if value is not None and not (float(lo) <= value <= float(hi)):
            reasons.append(_STAT_REASONS.get(name, name))
    distance = None
    limit = float(reference["distance_limit"])
    if features is not None:
        d = np.asarray(features, dtype=np.float64) - reference["mean"]
        distance = float(np.sqrt(max(float(d @ reference["precision"] @ d), 0.0)))
        if distance > limit:
            reasons.insert(0, "feature_distance")
    return {
        "flag": bool(reasons),
        "reasons": reasons,
        "messages": [OOD_MESSAGES[r] for r in reasons if r in OOD_MESSAGES],
        "distance": distance,
        "distance_limit": limit,
        "statistics": stats,
    }


def _heatmap_u8(cam: NDArray[np.float32], *, shape: tuple[int, int]) -> NDArray[np.uint8]:
    """Grad-CAM map resized to the original image size, as uint8 (0-255)."""
    m = np.nan_to_num(np.clip(cam, 0.0, 1.0)) * 255.0
    im = Image.fromarray(np.rint(m).astype(np.uint8)).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def run_cxr(
    model_key: str,
    images: list[NDArray[Any]],
    *,
    version: str | None = None,
    heatmaps: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Classify chest X-rays; one result per image, in input order.

    Each result holds ``probabilities`` (uncalibrated softmax per class), ``calibrated_probability``
    (temperature-scaled probability of the positive class), ``threshold`` (chosen on validation
    data), ``positive`` (calibrated probability >= threshold), ``label``, ``heatmap`` (uint8 Grad-CAM,
    0-255, at the image's own size, of ``heatmap_class`` = the predicted label; ``None`` when
    ``heatmaps=False``) and ``model`` (key, version, weights SHA-256).

    Cards that declare them add ``uncertain`` (the calibrated probability lies inside the card's
    ``uncertain_band``), ``ood`` (the out-of-distribution verdict, ``ood_assess``) and ``decision``:
    the label, or ``uncertain`` / ``out_of_distribution`` where the model abstains.
    """
    if not images:
        raise ModelInputInvalid("no images given")
    model = model_load(key=model_key, version=version)
    card = model.card
    if card.task != "classification":
        raise ModelInputInvalid("model is not a classifier", detail={"key": model_key})
    settings = card.data["preprocessing"]
    post = card.data["postprocessing"]
    inputs = np.stack([cxr_input(im, settings=settings) for im in images])
    classes = card.classes
    positive_index = classes.index(str(card.data.get("positive_class", classes[-1])))
    negative_index = 1 - positive_index
    threshold = float(post["threshold"])
    cams: dict[int, NDArray[np.float32]] | None = None
    reference = _ood_reference(model)
    pooled: list[Any] = []
    avgpool = getattr(model.net, "avgpool", None)
    hook = (
        avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(out.detach().flatten(1).cpu()))
        if reference is not None and avgpool is not None
        else None
    )
    try:
        if heatmaps:
            logits, cams = logits_and_gradcam(
                model=model, inputs=inputs, class_indices=[positive_index, negative_index], progress=progress
            )
        else:
            logits = logits_batched(model=model, inputs=inputs, progress=progress)
    finally:
        if hook is not None:
            hook.remove()
    features = np.concatenate([p.double().numpy() for p in pooled]) if pooled else None
    if features is not None and features.shape[0] != len(images):
        features = None  # the forward pass was not one call per batch: no features, image checks only
    raw, calibrated = softmax_calibrated(logits, temperature=float(post["temperature"]))
    band = post.get("uncertain_band")
    results = []
    for i, image in enumerate(images):
        p = float(calibrated[i, positive_index])
        shape = tuple(np.asarray(image).shape[:2])
        # explain the decision that was made: the map of the class the thresholded label names
        explained = positive_index if p >= threshold else negative_index
        uncertain = bool(band) and float(band[0]) < p < float(band[1])
        ood = (
            ood_assess(
                stats=image_statistics(image),
                features=features[i] if features is not None else None,
                reference=reference,
            )
            if reference is not None
            else None
        )
        decision = classes[explained]
        if ood is not None and ood["flag"]:
            decision = OUT_OF_DISTRIBUTION
        elif uncertain:
            decision = UNCERTAIN
        results.append(
            {
                "model": model.provenance(),
                "probabilities": {c: float(raw[i, j]) for j, c in enumerate(classes)},
                "calibrated_probability": p,
                "positive_class": classes[positive_index],
                "threshold": threshold,
                "positive": p >= threshold,
                "label": classes[explained],
                "uncertain": uncertain,
                "uncertain_band": [float(band[0]), float(band[1])] if band else None,
                "ood": ood,
                "decision": decision,
                "heatmap_class": classes[explained] if cams is not None else None,
                "heatmap": _heatmap_u8(cams[explained][i], shape=(int(shape[0]), int(shape[1])))
                if cams is not None
                else None,
            }
        )
    return results


def heatmap_overlay(
    image: NDArray[Any], heatmap: NDArray[np.uint8], *, alpha: float = 0.6
) -> NDArray[np.uint8]:
    """RGB overlay of a uint8 heatmap (jet colours) on the grey image, for PNG output."""
    from inference.runtime.preprocessing import cxr_to_gray_u8

    grey = cxr_to_gray_u8(image).astype(np.float32)
    h = heatmap.astype(np.float32) / 255.0
    # jet colour map, piecewise linear
    r = np.clip(1.5 - np.abs(4 * h - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * h - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * h - 1), 0, 1)
    colour = np.stack([r, g, b], axis=-1) * 255.0
    weight = (alpha * h)[..., None]  # low attention stays transparent
    out = (1 - weight) * grey[..., None] + weight * colour
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)

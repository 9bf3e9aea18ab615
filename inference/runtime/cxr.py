"""Chest X-ray classification pipeline: preprocess -> forward -> calibrate -> threshold -> Grad-CAM."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inference.registry import ModelInputInvalid
from inference.runtime.predictor import logits_and_gradcam, logits_batched, model_load, softmax_calibrated
from inference.runtime.preprocessing import cxr_preprocess


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
    """
    if not images:
        raise ModelInputInvalid("no images given")
    model = model_load(key=model_key, version=version)
    card = model.card
    if card.task != "classification":
        raise ModelInputInvalid("model is not a classifier", detail={"key": model_key})
    settings = card.data["preprocessing"]
    post = card.data["postprocessing"]
    inputs = np.stack([cxr_preprocess(im, settings=settings) for im in images])
    classes = card.classes
    positive_index = classes.index(str(card.data.get("positive_class", classes[-1])))
    negative_index = 1 - positive_index
    threshold = float(post["threshold"])
    cams: dict[int, NDArray[np.float32]] | None = None
    if heatmaps:
        logits, cams = logits_and_gradcam(
            model=model, inputs=inputs, class_indices=[positive_index, negative_index], progress=progress
        )
    else:
        logits = logits_batched(model=model, inputs=inputs, progress=progress)
    raw, calibrated = softmax_calibrated(logits, temperature=float(post["temperature"]))
    results = []
    for i, image in enumerate(images):
        p = float(calibrated[i, positive_index])
        shape = tuple(np.asarray(image).shape[:2])
        # explain the decision that was made: the map of the class the thresholded label names
        explained = positive_index if p >= threshold else negative_index
        results.append(
            {
                "model": model.provenance(),
                "probabilities": {c: float(raw[i, j]) for j, c in enumerate(classes)},
                "calibrated_probability": p,
                "positive_class": classes[positive_index],
                "threshold": threshold,
                "positive": p >= threshold,
                "label": classes[explained],
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

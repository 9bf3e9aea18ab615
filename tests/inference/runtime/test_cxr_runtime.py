"""Chest X-ray runtime (1.1.0 features): mid-rank equalisation, uncertain band, out-of-distribution check.

These tests build their own small card (random weights) in a temporary folder, so they hold
whichever version is served; ``test_cxr_model.py`` checks the committed model itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inference.registry import model_card_parse, sha256_file
from inference.runtime import cxr as runtime_cxr
from inference.runtime.cxr import (
    OUT_OF_DISTRIBUTION,
    UNCERTAIN,
    equalise_midrank,
    image_statistics,
    ood_assess,
    run_cxr,
)
from inference.runtime.predictor import model_load_from_card
from inference.training.imaging.cxr_robust import CONFIG, architecture, equalise_torch
from tests.inference.cxr_media import NORMAL, PNEUMONIA, grey


def test_serving_equalisation_equals_the_training_one() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 40, 40), dtype=np.uint8)
    images[1] //= 7  # few levels: many ties
    batch = equalise_torch(torch.from_numpy(images).float().unsqueeze(1) / 255.0)[:, 0].numpy()
    for image, trained in zip(images, batch, strict=True):
        np.testing.assert_allclose(equalise_midrank(image), trained, atol=1e-6)


def test_equalisation_ignores_exposure_and_window() -> None:
    image = (grey(PNEUMONIA) // 2).astype(np.uint8)  # 128 levels, so the maps below merge none
    brighter = (image + 100).astype(np.uint8)
    wider = (image * 2).astype(np.uint8)
    gamma = np.rint(255 * (image / 127.0) ** 0.7).astype(np.uint8)
    assert len(np.unique(gamma)) == len(np.unique(image))
    for other in (brighter, wider, gamma):
        np.testing.assert_allclose(equalise_midrank(other), equalise_midrank(image), atol=1e-6)


def test_image_statistics_tell_a_frontal_chest_from_a_photo_and_a_half_view() -> None:
    chest = grey(NORMAL)
    frontal = image_statistics(chest)
    photo = image_statistics(np.stack([chest, (chest * 0.8).astype(np.uint8), (chest * 0.5).astype(np.uint8)], -1))
    half = image_statistics(np.repeat(chest[:, :112], 2, axis=1))
    assert frontal["chroma"] == 0.0 and photo["chroma"] > 0.05
    assert frontal["symmetry"] > half["symmetry"]
    assert image_statistics(np.full((64, 64), 90, np.uint8))["dynamic_range"] == 0.0


def test_ood_assess_gives_stable_reason_codes() -> None:
    reference = {"distance_limit": 3.0, "mean": np.zeros(2), "precision": np.eye(2),
                 "image_limits": {"chroma": [0, 0.05], "symmetry": [0.5, 1.0], "dynamic_range": [0.2, 1.0]}}
    inside = ood_assess(stats={"chroma": 0.0, "symmetry": 0.8, "dynamic_range": 0.7}, features=np.array([1.0, 1.0]), reference=reference)
    assert inside["flag"] is False and inside["reasons"] == [] and inside["distance"] == pytest.approx(2 ** 0.5)
    outside = ood_assess(stats={"chroma": 0.3, "symmetry": 0.1, "dynamic_range": 0.05}, features=np.array([5.0, 0.0]), reference=reference)
    assert outside["flag"] is True
    assert outside["reasons"] == ["feature_distance", "colour_image", "asymmetric_view", "low_dynamic_range"]
    assert len(outside["messages"]) == 4


def _card(tmp_path: Path, *, band: list[float], limit: float) -> Path:
    directory = tmp_path / "cxr_pneumonia" / "9.9.9"
    directory.mkdir(parents=True)
    torch.manual_seed(0)
    net = architecture()
    from inference.runtime.networks import network_build

    torch.save(network_build(architecture=net).state_dict(), directory / "weights.pt")
    np.savez(directory / "ood.npz", mean=np.zeros(128, np.float32), precision=np.eye(128, dtype=np.float32))
    card = {
        "key": "cxr_pneumonia", "version": "9.9.9", "name": "test", "task": "classification", "modality": ["OT"],
        "classes": ["NORMAL", "PNEUMONIA"], "positive_class": "PNEUMONIA", "intended_use": "tests",
        "architecture": net,
        "weights": {"file": "weights.pt", "sha256": sha256_file(directory / "weights.pt")},
        "preprocessing": {"size": CONFIG["size"], "colour": "equalised", "mean": CONFIG["mean"], "std": CONFIG["std"]},
        "postprocessing": {"temperature": 1.0, "threshold": 0.5, "uncertain_band": band},
        "ood": {"file": "ood.npz", "sha256": sha256_file(directory / "ood.npz"), "distance_limit": limit,
                "image_limits": {"chroma": [0.0, 0.05]}},
    }
    (directory / "card.json").write_text(json.dumps(card))
    return directory / "card.json"


@pytest.fixture
def use_card(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    def install(**kw: Any) -> None:
        loaded = model_load_from_card(card=model_card_parse(path=_card(tmp_path, **kw)))
        monkeypatch.setattr(runtime_cxr, "model_load", lambda key, version=None: loaded)

    return install


def test_probabilities_inside_the_band_are_uncertain(use_card: Any) -> None:
    use_card(band=[0.0, 1.0], limit=1e9)
    (result,) = run_cxr("cxr_pneumonia", [grey(NORMAL)])
    assert result["uncertain"] is True and result["decision"] == UNCERTAIN
    assert result["label"] in ("NORMAL", "PNEUMONIA")  # the class is still given, for the record
    assert result["ood"]["flag"] is False and result["ood"]["distance"] is not None


def test_far_features_and_colour_images_are_out_of_distribution(use_card: Any) -> None:
    use_card(band=[0.2, 0.8], limit=0.0)
    chest = grey(NORMAL)
    colour = np.stack([chest, chest // 2, chest // 3], -1).astype(np.uint8)
    far, tinted = run_cxr("cxr_pneumonia", [chest, colour], heatmaps=False)
    assert far["decision"] == OUT_OF_DISTRIBUTION and far["ood"]["reasons"] == ["feature_distance"]
    assert tinted["ood"]["reasons"] == ["feature_distance", "colour_image"]

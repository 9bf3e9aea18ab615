"""Chest X-ray pneumonia model: golden test on ten committed held-out images, API contract, Grad-CAM.

Golden thresholds, and why:
- all ten images on the right side of the card's threshold and AUROC = 1.0 on them: the model's held-out
  AUROC is about 0.99 and these ten were drawn at random from that held-out split before the test was written
  (``data/README.md``), so a miss means a broken pipeline rather than bad luck;
- calibrated probabilities equal to ``expected.json`` within 1e-4: catches any silent change in decoding,
  resizing, colour mapping, normalisation or calibration. ``expected.json`` names the weights' SHA-256; a
  retrained model must update it explicitly.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from inference.registry import ModelInputInvalid, model_card_get
from inference.runtime.cxr import run_cxr
from inference.runtime.io import images_read

DATA = Path(__file__).resolve().parents[1] / "data" / "cxr"


def _labels() -> dict[str, str]:
    with (DATA / "labels.csv").open() as fh:
        return {row["file"]: row["label"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def results() -> list[tuple[str, dict]]:
    named = images_read(DATA)
    return list(zip([n for n, _ in named], run_cxr("cxr_pneumonia", [im for _, im in named]), strict=True))


def test_golden_heldout_images(results: list[tuple[str, dict]]) -> None:
    truth = _labels()
    assert [n for n, _ in results] == sorted(truth)
    for name, r in results:
        assert r["label"] == truth[name], (name, r["calibrated_probability"], r["threshold"])
    pos = [r["calibrated_probability"] for n, r in results if truth[n] == "PNEUMONIA"]
    neg = [r["calibrated_probability"] for n, r in results if truth[n] == "NORMAL"]
    assert min(pos) > max(neg)  # AUROC 1.0 on the ten


def test_golden_probabilities_are_stable(results: list[tuple[str, dict]]) -> None:
    expected = json.loads((DATA / "expected.json").read_text())
    card = model_card_get(key="cxr_pneumonia")
    assert expected["weights_sha256"] == card.weights_sha256, "model retrained: regenerate expected.json"
    for name, r in results:
        assert r["calibrated_probability"] == pytest.approx(
            expected["calibrated_probability"][name], abs=1e-4
        )


def test_result_contract_and_heatmaps(results: list[tuple[str, dict]]) -> None:
    card = model_card_get(key="cxr_pneumonia")
    for _, r in results:
        assert r["model"] == {
            "key": "cxr_pneumonia",
            "version": card.version,
            "weights_sha256": card.weights_sha256,
        }
        assert set(r["probabilities"]) == {"NORMAL", "PNEUMONIA"}
        assert sum(r["probabilities"].values()) == pytest.approx(1.0)
        assert r["threshold"] == card.data["postprocessing"]["threshold"]
        assert r["positive"] == (r["calibrated_probability"] >= r["threshold"])
        assert r["heatmap_class"] == r["label"]  # the map explains the decision made
        heat = r["heatmap"]
        assert heat.dtype == np.uint8 and heat.shape == (224, 224)
        assert heat.max() > heat.min()  # the map is not flat


def test_any_size_and_channels_are_accepted() -> None:
    rng = np.random.default_rng(0)
    images: list[np.ndarray] = [
        rng.integers(0, 256, (300, 260), dtype=np.uint8),
        rng.integers(0, 4096, (90, 120), dtype=np.uint16),
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
    ]
    out = run_cxr("cxr_pneumonia", images, heatmaps=True)
    assert [r["heatmap"].shape for r in out] == [(300, 260), (90, 120), (64, 64)]
    assert run_cxr("cxr_pneumonia", images[:1], heatmaps=False)[0]["heatmap"] is None


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ModelInputInvalid):
        run_cxr("cxr_pneumonia", [])
    with pytest.raises(ModelInputInvalid):
        run_cxr("cxr_pneumonia", [np.zeros((5, 5, 5, 5))])
    with pytest.raises(ModelInputInvalid):
        run_cxr("liver_ct_seg", [np.zeros((64, 64), np.uint8)])


@pytest.mark.parametrize("path", ["closed_form", "autograd"])
def test_gradcam_matches_monai_reference(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our single-forward Grad-CAM equals MONAI's GradCAM on the committed model: the closed
    form used for a pooled linear head, and the autograd path used for any other head."""
    import copy

    from inference.runtime import predictor

    if path == "autograd":
        monkeypatch.setattr(predictor, "_pooled_linear_head", lambda net, layer: None)
    else:
        assert predictor._pooled_linear_head(predictor.model_load(key="cxr_pneumonia").net, "layer4") is not None

    import torch
    from monai.visualize import GradCAM

    from inference.runtime.predictor import logits_and_gradcam, model_load
    from inference.runtime.preprocessing import cxr_preprocess

    model = model_load(key="cxr_pneumonia")
    named = images_read(DATA)[:4]
    x = np.stack([cxr_preprocess(im, settings=model.card.data["preprocessing"]) for _, im in named])
    logits, ours = logits_and_gradcam(model=model, inputs=x, class_indices=[0, 1])
    reference_net = copy.deepcopy(model.net).requires_grad_(True).eval()

    def minmax(t: torch.Tensor) -> torch.Tensor:
        # MONAI's default normaliser maps the maximum to 0 (ScaleIntensity(minv=1, maxv=0)); we keep the
        # usual convention (1 = most important), so the reference is normalised that way here.
        lo = t.amin(dim=(1, 2, 3), keepdim=True)
        return torch.nan_to_num((t - lo) / (t.amax(dim=(1, 2, 3), keepdim=True) - lo))  # flat map -> 0

    cam = GradCAM(
        nn_module=reference_net,
        target_layers=model.card.data["architecture"]["gradcam_layer"],
        postprocessing=minmax,
    )
    for c in (0, 1):
        ref = cam(torch.from_numpy(x), class_idx=c)[:, 0].detach().numpy()
        np.testing.assert_allclose(ours[c], ref, atol=1e-4)
    with torch.inference_mode():
        np.testing.assert_allclose(logits, model.net(torch.from_numpy(x)).numpy(), atol=1e-5)

"""The served ``cxr_pneumonia`` 1.0.1 (1.0.0's weights plus abstention): its card, the uncertain band
and the out-of-distribution check, and ``run_model``'s contract (predictions.csv: file name and a
probability per class). The 1.1.0 candidate was trained and evaluated but not served (see the card).

The out-of-distribution inputs are made here from the ten committed held-out images (a photograph
of a film, one side of the chest stretched like a lateral view) and from synthetic non-chest
pictures, as the card's evaluation makes them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from inference.registry import model_card_get, sha256_file
from inference.runtime.cxr import OUT_OF_DISTRIBUTION, run_cxr
from inference.runtime.io import images_read
from inference.training.imaging.cxr_robust_card import _lateral_like, _non_chest, _photo_of_film

DATA = Path(__file__).resolve().parents[1] / "data" / "cxr"
VERSION = "1.0.1"


@pytest.fixture(scope="module")
def heldout() -> list[tuple[str, np.ndarray]]:
    return images_read(DATA)


def test_card_declares_band_ood_metrics_and_reproduction() -> None:
    card = model_card_get(key="cxr_pneumonia", version=VERSION)
    post, metrics = card.data["postprocessing"], card.data["metrics"]
    lo, hi = post["uncertain_band"]
    assert 0 < lo < post["threshold"] < hi < 1
    assert sha256_file(card.directory / card.data["ood"]["file"]) == card.data["ood"]["sha256"]
    assert card.weights_path.stat().st_size < 10 * 1024 * 1024
    held = metrics["heldout"]
    assert held["auroc_ci95_patient_bootstrap"][0] <= held["auroc"] <= held["auroc_ci95_patient_bootstrap"][1]
    candidate = metrics["candidate_1_1_0"]
    assert {"sensitivity_ci95_wilson", "specificity_ci95_wilson"} <= candidate["heldout"].keys()
    assert {r["perturbation"] for r in candidate["robustness_heldout"]} >= {"none", "gamma", "noise_sd", "contrast"}
    assert metrics["uncertain_band_heldout"]["abstained_rate"] < 0.1
    assert metrics["ood"][0]["rate"] < 0.05  # held-out radiographs are rarely flagged
    assert metrics["candidate_1_1_0"]["comparison"]["served"] == "1.0.0"  # else 1.1.0 would be committed
    assert "cxr_robust_card abstention" in metrics["abstention_command"]
    assert card.weights_sha256 == model_card_get(key="cxr_pneumonia", version="1.0.0").weights_sha256
    text = (card.directory / "MODEL_CARD.md").read_text()
    assert "unseen test split" in text and "Uncertain band" in text and "Out-of-distribution" in text
    assert "Candidate 1.1.0" in text and "not served" in text


def test_served_version_keeps_1_0_0_decisions(heldout: list[tuple[str, np.ndarray]]) -> None:
    images = [im for _, im in heldout]
    served = run_cxr("cxr_pneumonia", images, heatmaps=False)
    old = run_cxr("cxr_pneumonia", images, version="1.0.0", heatmaps=False)
    assert served[0]["model"]["version"] == VERSION
    for a, b in zip(served, old, strict=True):
        assert a["calibrated_probability"] == pytest.approx(b["calibrated_probability"], abs=1e-6)
        assert a["label"] == b["label"] and "ood" in a and b["ood"] is None


def test_heldout_images_are_classified_not_flagged(heldout: list[tuple[str, np.ndarray]]) -> None:
    with (DATA / "labels.csv").open() as fh:
        truth = {row["file"]: row["label"] for row in csv.DictReader(fh)}
    results = run_cxr("cxr_pneumonia", [im for _, im in heldout], version=VERSION, heatmaps=False)
    assert not any(r["ood"]["flag"] for r in results)
    pos = [r["calibrated_probability"] for (n, _), r in zip(heldout, results, strict=True) if truth[n] == "PNEUMONIA"]
    neg = [r["calibrated_probability"] for (n, _), r in zip(heldout, results, strict=True) if truth[n] == "NORMAL"]
    assert min(pos) > max(neg)  # ranked right (AUROC 1.0 on the ten)
    decided = [(n, r) for (n, _), r in zip(heldout, results, strict=True) if not r["uncertain"]]
    assert all(r["decision"] == truth[n] for n, r in decided)


def test_photos_of_film_lateral_like_and_non_chest_inputs_are_flagged(heldout: list[tuple[str, np.ndarray]]) -> None:
    rng = np.random.default_rng(1)
    grey = [np.asarray(im, dtype=np.uint8) if im.ndim == 2 else np.asarray(im[..., 0], dtype=np.uint8) for _, im in heldout]
    photos = [_photo_of_film(g, rng) for g in grey]
    lateral = [_lateral_like(g) for g in grey]
    other = _non_chest(8, rng, 224)
    for name, images, minimum in (("photo", photos, 1.0), ("lateral-like", lateral, 0.7), ("non-chest", other, 1.0)):
        results = run_cxr("cxr_pneumonia", images, version=VERSION, heatmaps=False)
        flagged = [r["decision"] == OUT_OF_DISTRIBUTION for r in results]
        assert np.mean(flagged) >= minimum, (name, [r["ood"]["reasons"] for r in results])


def test_run_model_keeps_its_contract(tmp_path: Path) -> None:
    call_command("run_model", "cxr_pneumonia", "-i", str(DATA), "-o", str(tmp_path), "--quiet")
    with (tmp_path / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {"file", "probability_NORMAL", "probability_PNEUMONIA"} <= rows[0].keys()
    for row in rows:
        assert float(row["probability_NORMAL"]) + float(row["probability_PNEUMONIA"]) == pytest.approx(1.0, abs=1e-5)

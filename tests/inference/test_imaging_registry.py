"""Registry of imaging models: cards, hash checks, refusal of bad weights, torch-free listing."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inference import registry
from inference.registry import (
    ModelCardInvalid,
    ModelNotFound,
    ModelWeightsCorrupt,
    ModelWeightsHashMismatch,
    ModelWeightsMissing,
    model_card_get,
    model_list,
    model_weights_verify,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[2]


def _copy_artefact(tmp_path: Path, key: str) -> Path:
    card = model_card_get(key=key)
    dest = tmp_path / key / card.version
    shutil.copytree(card.directory, dest)
    return tmp_path


def test_committed_models_are_listed_with_complete_cards() -> None:
    cards = {c.key: c for c in model_list(latest_only=True)}
    assert {"cxr_pneumonia", "liver_ct_seg"} <= cards.keys()
    for card in cards.values():
        data = card.data
        for field in (
            "intended_use",
            "limitations",
            "training",
            "metrics",
            "preprocessing",
            "postprocessing",
        ):
            assert data[field], (card.key, field)
        assert data["training"]["data"][0]["licence"]
        # manage.py train_model on a CPU, or the GPU steps of scripts/gpu/ (liver_ct_seg 1.1.0)
        assert data["metrics"]["command"].startswith(("python manage.py train_model ", "python scripts/gpu/"))
        assert card.weights_path.stat().st_size < 25 * 1024 * 1024
        assert model_weights_verify(card=card) == card.weights_path
        assert registry.model_card_markdown(card=card).startswith("# Model card")


def test_unknown_model_is_not_found() -> None:
    with pytest.raises(ModelNotFound) as exc:
        model_card_get(key="no_such_model")
    assert exc.value.code == "model_not_found"


def test_hash_mismatch_is_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy_artefact(tmp_path, "cxr_pneumonia")
    card = model_card_get(key="cxr_pneumonia", root=root)
    with card.weights_path.open("r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    import torch

    from inference.runtime import predictor

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load called on unverified weights")

    monkeypatch.setattr(torch, "load", must_not_load)
    with pytest.raises(ModelWeightsHashMismatch) as exc:
        predictor.model_load_from_card(card=card)
    assert exc.value.code == "model_weights_hash_mismatch"
    assert exc.value.detail["expected"] == card.weights_sha256


def test_missing_weights_are_refused(tmp_path: Path) -> None:
    root = _copy_artefact(tmp_path, "cxr_pneumonia")
    card = model_card_get(key="cxr_pneumonia", root=root)
    card.weights_path.unlink()
    with pytest.raises(ModelWeightsMissing):
        model_weights_verify(card=card)


def _reseal(card_dir: Path) -> None:
    """Make the card vouch for whatever weights file is there now (simulates a bad training output)."""
    path = card_dir / "card.json"
    data = json.loads(path.read_text())
    data["weights"]["sha256"] = sha256_file(card_dir / data["weights"]["file"])
    path.write_text(json.dumps(data))


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


@pytest.mark.parametrize("kind", ["garbage", "truncated", "wrong_keys", "pickled_object"])
def test_corrupted_weights_are_refused(tmp_path: Path, kind: str) -> None:
    import torch

    from inference.runtime import predictor

    root = _copy_artefact(tmp_path, "cxr_pneumonia")
    card = model_card_get(key="cxr_pneumonia", root=root)
    weights = card.weights_path
    if kind == "garbage":
        weights.write_bytes(b"not a torch file" * 64)
    elif kind == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif kind == "wrong_keys":
        torch.save({"conv.weight": torch.zeros(3)}, weights)
    else:
        weights.write_bytes(pickle.dumps(_Evil()))
    _reseal(card.directory)
    card = model_card_get(key="cxr_pneumonia", root=root)
    with pytest.raises(ModelWeightsCorrupt) as exc:
        predictor.model_load_from_card(card=card)
    assert exc.value.code == "model_weights_corrupt"


def test_invalid_cards_are_rejected(tmp_path: Path) -> None:
    directory = tmp_path / "x" / "1.0.0"
    directory.mkdir(parents=True)
    (directory / "card.json").write_text(json.dumps({"key": "x", "version": "1.0.0"}))
    with pytest.raises(ModelCardInvalid) as exc:
        model_list(root=tmp_path)
    assert exc.value.code == "model_card_invalid"
    good = {
        "key": "x",
        "version": "1.0",
        "task": "classification",
        "architecture": {},
        "preprocessing": {},
        "postprocessing": {},
        "weights": {"file": "../w.pt", "sha256": "0" * 64},
    }
    (directory / "card.json").write_text(json.dumps(good))
    with pytest.raises(ModelCardInvalid):
        model_list(root=tmp_path)
    good["version"] = "1.0.0"
    with pytest.raises(ModelCardInvalid):  # weights outside the artefact folder
        model_list(root=tmp_path)
    good["weights"] = {"file": "w.pt", "sha256": "0" * 64}
    (directory / "card.json").write_text(json.dumps(good))
    assert model_card_get(key="x", root=tmp_path).version == "1.0.0"


def test_versions_sort_numerically(tmp_path: Path) -> None:
    for version in ("1.2.0", "1.10.0", "1.9.3"):
        d = tmp_path / "m" / version
        d.mkdir(parents=True)
        (d / "card.json").write_text(
            json.dumps(
                {
                    "key": "m",
                    "version": version,
                    "task": "segmentation",
                    "architecture": {},
                    "preprocessing": {},
                    "postprocessing": {},
                    "weights": {"file": "w.pt", "sha256": "a" * 64},
                }
            )
        )
    assert model_card_get(key="m", root=tmp_path).version == "1.10.0"
    assert [c.version for c in model_list(root=tmp_path)] == ["1.2.0", "1.9.3", "1.10.0"]


def test_registry_and_commands_do_not_import_torch() -> None:
    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cdss.settings.test');"
        "import django; django.setup();"
        "import inference.registry as r, inference.runtime;"
        "import inference.management.commands.run_model, inference.management.commands.train_model;"
        "cards = r.model_list(); assert cards;"
        "assert 'torch' not in sys.modules and 'monai' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)

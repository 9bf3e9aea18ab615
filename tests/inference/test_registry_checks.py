"""The deployment check of both model registries (``inference.E001``-``E003``)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from inference import registry
from inference.checks import model_registry_check
from inference.risk.learned import artefact


def _ids(messages: Sequence[object]) -> list[str]:
    return sorted(str(getattr(m, "id", "")) for m in messages)


@pytest.fixture
def copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Both registries copied to a scratch folder, so that the test may damage them."""
    imaging = tmp_path / "imaging"
    risk = tmp_path / "risk"
    shutil.copytree(registry.ARTEFACT_ROOT / "cxr_pneumonia", imaging / "cxr_pneumonia")
    shutil.copytree(artefact.DEFAULT_ARTEFACT_ROOT / "ilpd", risk / "ilpd")
    monkeypatch.setattr(registry, "ARTEFACT_ROOT", imaging)
    monkeypatch.setattr(artefact, "DEFAULT_ARTEFACT_ROOT", risk)
    return imaging, risk


def test_the_committed_registries_pass() -> None:
    assert model_registry_check() == []


def test_intact_copies_pass(copies: tuple[Path, Path]) -> None:
    assert model_registry_check() == []


def test_a_changed_weights_file_fails_the_check(copies: tuple[Path, Path]) -> None:
    imaging, _ = copies
    weights = next(imaging.glob("cxr_pneumonia/*/weights.pt"))
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit
    assert _ids(model_registry_check()) == ["inference.E002"]


def test_a_missing_weights_file_and_a_broken_card_fail_the_check(copies: tuple[Path, Path]) -> None:
    imaging, _ = copies
    next(imaging.glob("cxr_pneumonia/*/weights.pt")).unlink()
    broken = imaging / "cxr_pneumonia" / "9.9.9"
    broken.mkdir()
    (broken / "card.json").write_text("{not json")
    assert _ids(model_registry_check()) == ["inference.E001", "inference.E002"]


def test_a_changed_risk_model_fails_the_check(copies: tuple[Path, Path]) -> None:
    _, risk = copies
    model = next(risk.glob("ilpd/*/model.json"))
    model.write_text(model.read_text().replace("0", "1", 1))
    assert "inference.E003" in _ids(model_registry_check())

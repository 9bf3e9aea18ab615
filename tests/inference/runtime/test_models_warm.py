"""Worker processes load the configured imaging models when they start."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from inference import tasks
from inference.runtime import predictor, warm
from inference.runtime.predictor import model_load


def test_warm_up_loads_each_model_and_survives_one_that_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def load(*, key: str, version: str | None = None) -> Any:
        asked.append(key)
        if key == "missing_model":
            raise LookupError(key)
        return object()

    monkeypatch.setattr(warm, "model_load", load)
    assert warm.models_warm(["liver_ct_seg", "missing_model", "brain_mri_seg"]) == ["liver_ct_seg", "brain_mri_seg"]
    assert asked == ["liver_ct_seg", "missing_model", "brain_mri_seg"]


@override_settings(WORKER_WARM_MODELS=[])
def test_nothing_is_warmed_unless_configured() -> None:
    assert tasks.models_warm_in_background() is None


@pytest.mark.model
@override_settings(WORKER_WARM_MODELS=["brain_mri_seg"])
def test_process_start_fills_the_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    predictor.cache_clear()
    loads: list[str] = []
    network_load = predictor.network_load

    def counted(*, card: Any) -> Any:
        loads.append(card.key)
        return network_load(card=card)

    monkeypatch.setattr(predictor, "network_load", counted)
    thread = tasks.models_warm_in_background()
    assert thread is not None
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert loads == ["brain_mri_seg"]
    model_load(key="brain_mri_seg")  # the analysis that follows finds it loaded
    assert loads == ["brain_mri_seg"]

"""What an imaging step's progress events count: images while fetching; nothing for a step that
only announces its name (the portal would show "0 of 1")."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from inference.analysis import steps
from inference.models import AnalysisRequest, AnalysisStatus
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _published(world: World, monkeypatch: pytest.MonkeyPatch, name: str, k: int, n: int) -> dict[str, Any]:
    analysis = AnalysisRequest.objects.create(
        patient=world.patient, requested_by=world.clinician, idempotency_key=f"counts-{name}-{k}-{n}",
        series_uids=["1.2.3"], model_keys=["liver_ct_seg"], status=AnalysisStatus.RUNNING,
    )
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(steps, "analysis_publish", lambda request, **extra: seen.append(extra))
    steps._progress(SimpleNamespace(request_id=analysis.pk, key="imaging:1"), name, k, n)  # type: ignore[arg-type]
    analysis.refresh_from_db()
    assert analysis.current_step == name
    assert len(seen) == 1
    return seen[0]


def test_fetch_counts_images(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _published(world, monkeypatch, "fetching images", 11, 20) == {
        "step_key": "imaging:1", "k": 11, "n": 20, "unit": "images",
    }


def test_a_step_that_only_names_itself_counts_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _published(world, monkeypatch, "running model", 0, 1) == {"step_key": "imaging:1"}

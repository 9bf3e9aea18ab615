"""Progress that tells the truth: the liver model reports slices done of the total, with an
estimated time left, over the analysis events."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inference.analysis import progress as progress_module
from inference.analysis.progress import CountProgress, step_count_publish
from inference.analysis.services import analysis_request_create
from inference.runtime.liver import run_liver_seg
from tests.conftest import World
from tests.inference.data.synthetic import phantom_hu
from tests.inference.pipeline_helpers import InlineBroker


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_count_progress_throttles_and_estimates_the_time_left() -> None:
    clock, sent = _Clock(), []
    meter = CountProgress(lambda k, n, eta: sent.append((k, n, eta)), total=40, min_interval_s=1.0, clock=clock)
    for _ in range(5):
        clock.now += 0.4
        meter(8)
    # first batch at once; then at most one a second; the last always
    assert sent == [(8, 40, 1.6), (32, 40, 0.4), (40, 40, 0.0)]
    assert [k for k, _, _ in sent] == sorted(k for k, _, _ in sent)


@pytest.mark.model
def test_liver_model_reports_increasing_slice_counts_up_to_the_total() -> None:
    hu = phantom_hu(nz=20, ny=48, nx=56).astype(np.float32)
    sent: list[tuple[int, int, float | None]] = []
    meter = CountProgress(lambda k, n, eta: sent.append((k, n, eta)), total=hu.shape[0], min_interval_s=0.0)
    # Every slice through the network (the phantom shows the fast path no organ, which it then
    # reports in one step: test_liver_speed checks that its counts add up to the total).
    run_liver_seg(hu, (2.0, 3.0, 3.0), progress=meter, dense=True)
    counts = [k for k, _, _ in sent]
    assert len(counts) >= 2 and counts == sorted(set(counts)) and counts[-1] == hu.shape[0]
    assert all(n == hu.shape[0] for _, n, _ in sent)
    assert all(eta is not None and eta >= 0 for _, _, eta in sent) and sent[-1][2] == 0.0


@pytest.mark.django_db
def test_step_counts_go_out_as_analysis_progress_events(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    analysis, _, _ = analysis_request_create(
        actor=world.clinician, patient=world.patient, series_uids=[], model_keys=["noop"],
        idempotency_key="progress", dispatch=InlineBroker(),
    )
    published: list[dict[str, Any]] = []
    monkeypatch.setattr(
        progress_module, "event_publish_on_commit",
        lambda *, groups, event_type, payload: published.append({"type": event_type, **payload}),
    )
    for k, eta in ((8, 12.5), (16, 4.0), (20, 0.0)):
        step_count_publish(request_id=analysis.pk, step_key="imaging:liver_ct_seg", step_name="running model",
                           unit="slices", k=k, n=20, eta_s=eta)
    assert [(e["type"], e["step"], e["k"], e["n"], e["unit"], e["eta_s"]) for e in published] == [
        ("analysis.progress", "running model", 8, 20, "slices", 12.5),
        ("analysis.progress", "running model", 16, 20, "slices", 4.0),
        ("analysis.progress", "running model", 20, 20, "slices", 0.0),
    ]
    # ids, step, counts and status only: nothing about the patient beyond the id
    assert set(published[0]) <= {"type", "request_id", "patient_id", "status", "step", "progress", "error_code",
                                 "report_id", "step_key", "k", "n", "unit", "eta_s"}

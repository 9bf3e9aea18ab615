from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from inference.analysis.errors import StepFailed
from inference.analysis.services import analysis_request_create, analysis_sweep
from inference.analysis.steps import step_run
from inference.models import AnalysisRequest, AnalysisStatus, AnalysisStep, Report, StepStatus
from inference.reports.services import report_verify
from tests.conftest import World
from tests.inference.pipeline_helpers import InlineBroker


def create(world: World, broker: InlineBroker, key: str = "k1", **kwargs: Any) -> AnalysisRequest:
    analysis, _, _ = analysis_request_create(
        actor=world.clinician, patient=world.patient, series_uids=kwargs.pop("series", []),
        model_keys=kwargs.pop("models", ["noop"]), idempotency_key=key, dispatch=broker, **kwargs,
    )
    return analysis


def test_noop_analysis_produces_exactly_one_report(world: World, django_capture_on_commit_callbacks: Any) -> None:
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        analysis = create(world, broker)
    broker.drain()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED
    assert analysis.progress == 100
    report = Report.objects.get(request=analysis)
    assert report.version == 1 and report_verify(report)
    assert "supports, and does not replace" in report.content["intended_use"]
    assert report.content["models"] == [{"key": "noop", "version": "1", "weights_sha256": None}]
    assert report.content["inputs"]["scores_request"]["patient"]["sex"] == "male"


def test_same_idempotency_key_makes_one_request(world: World) -> None:
    broker = InlineBroker()
    first = create(world, broker, key="same")
    second = create(world, broker, key="same")
    assert first.pk == second.pk
    assert AnalysisRequest.objects.count() == 1


def test_duplicate_deliveries_give_one_report(world: World, django_capture_on_commit_callbacks: Any) -> None:
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        analysis = create(world, broker)
    broker.drain()
    # Deliver every message again, as Redis would after a visibility timeout.
    for message in list(broker.delivered):
        broker.deliver(message)
    broker.drain()
    assert Report.objects.filter(request=analysis).count() == 1
    assert Report.objects.count() == 1


def test_failed_step_fails_the_request_with_its_code(world: World, django_capture_on_commit_callbacks: Any) -> None:
    def runner(step: AnalysisStep) -> dict[str, Any]:
        if step.kind == "imaging":
            raise StepFailed("The series has no instances.", code="series_empty")
        return step_run(step)

    broker = InlineBroker(runner=runner)
    with django_capture_on_commit_callbacks(execute=True):
        analysis = create(world, broker)
    broker.drain()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error_code == "series_empty"
    assert not Report.objects.exists()


def test_unexpected_error_fails_with_internal_code_not_traceback(world: World, django_capture_on_commit_callbacks: Any) -> None:
    def runner(step: AnalysisStep) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    broker = InlineBroker(runner=runner)
    with django_capture_on_commit_callbacks(execute=True):
        analysis = create(world, broker)
    broker.drain()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and analysis.error_code == "internal_error"
    assert "boom" not in analysis.error_message


def test_sweeper_redrives_a_lost_step_then_gives_up(world: World, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.ANALYSIS_MAX_ATTEMPTS = 2
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        analysis = create(world, broker)
    # Creating the request dispatched the first steps (imaging and risk) at once.
    assert [what for what, _, _ in broker.queue] == ["step", "step"]
    lost = broker.queue.popleft()  # this delivery is lost with its worker
    broker.queue.clear()  # and so is the other
    step = AnalysisStep.objects.get(pk=lost[1])
    later = timezone.now() + dt.timedelta(seconds=settings.ANALYSIS_STEP_STALE_S + 1)
    # Both first steps (imaging and risk) were dispatched and neither arrived.
    assert analysis_sweep(dispatch=broker, now=later) == {"redriven": 2, "failed": 0}
    step.refresh_from_db()
    assert step.status == StepStatus.DISPATCHED  # dispatched again
    # Now it is claimed twice and vanishes each time: after max attempts it fails with a code.
    AnalysisStep.objects.filter(pk=step.pk).update(attempts=2, status=StepStatus.RUNNING, heartbeat_at=timezone.now())
    broker.queue.clear()
    result = analysis_sweep(dispatch=broker, now=later + dt.timedelta(seconds=settings.ANALYSIS_STEP_STALE_S + 1))
    assert result["failed"] == 1
    broker.drain()
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and analysis.error_code == "step_stuck"


def test_sweeper_fails_requests_past_the_deadline(world: World, settings: Any) -> None:
    broker = InlineBroker()
    analysis = create(world, broker)
    later = timezone.now() + dt.timedelta(seconds=settings.ANALYSIS_DEADLINE_S + 5)
    analysis_sweep(dispatch=broker, now=later)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.FAILED and analysis.error_code == "deadline_exceeded"


def test_unknown_model_is_rejected(world: World) -> None:
    from inference.analysis.errors import UnknownModel

    with pytest.raises(UnknownModel):
        create(world, InlineBroker(), models=["no_such_model"])
    assert not AnalysisRequest.objects.exists()


def test_every_workflow_transaction_locks_the_request_before_its_steps(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """Two workers finishing sibling steps deadlocked when one locked step-then-request and the
    other (advancing) request-then-steps. The order must be the same everywhere."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if not connection.features.has_select_for_update:
        pytest.skip("this database takes no row locks (SQLite); CI runs this on PostgreSQL")
    broker = InlineBroker()
    with django_capture_on_commit_callbacks(execute=True):
        create(world, broker)
    locked_tables: list[list[str]] = []
    while broker.queue:
        message = broker.queue.popleft()
        with CaptureQueriesContext(connection) as queries:
            broker.deliver(message)
        tables = [
            "request" if 'FROM "inference_analysisrequest"' in q["sql"] else "step"
            for q in queries.captured_queries
            if "FOR UPDATE" in q["sql"] and ('FROM "inference_analysisrequest"' in q["sql"] or 'FROM "inference_analysisstep"' in q["sql"])
        ]
        locked_tables.append(tables)
        for q in queries.captured_queries:
            # Found through its step, the request is locked alone: never the step in passing.
            if "FOR UPDATE" in q["sql"] and 'FROM "inference_analysisrequest" INNER JOIN' in q["sql"]:
                assert 'FOR UPDATE OF "inference_analysisrequest"' in q["sql"], q["sql"]
    assert len(locked_tables) >= 6
    for tables in locked_tables:
        # Within each transaction (a delivery can run several), a step is never locked while
        # its request is not yet locked.
        assert tables and tables[0] == "request", locked_tables


def test_in_a_worker_fusion_and_report_follow_without_the_broker_and_in_few_transactions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a worker (no dispatcher), finishing the last step of a stage advances the request in
    the same transaction, and fusion and report are claimed there and run in place: one
    transaction per step outcome, none for advancing or claiming on its own."""
    from django.db import connection
    from django.test import TestCase
    from django.test.utils import CaptureQueriesContext

    from inference.analysis import services
    from inference.analysis.services import analysis_step_execute

    sent: list[Any] = []
    monkeypatch.setattr(services, "messages_send", sent.extend)
    broker = InlineBroker()
    with TestCase.captureOnCommitCallbacks(execute=True):
        analysis = create(world, broker)
    first_steps = list(broker.queue)
    assert [m[0] for m in first_steps] == ["step", "step"]  # imaging and risk
    with CaptureQueriesContext(connection) as queries:
        for _, step_id, _ in first_steps:
            with TestCase.captureOnCommitCallbacks(execute=True):
                analysis_step_execute(step_id=step_id)  # as the worker's task does
    assert sent == []  # nothing went back through the broker
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.SUCCEEDED and analysis.progress == 100
    assert Report.objects.filter(request=analysis).count() == 1
    assert set(analysis.steps.values_list("status", flat=True)) == {StepStatus.DONE}
    transactions = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    # imaging: claim + finish; risk: claim + finish-advance-claim(fusion); fusion: finish-advance-
    # claim(report); report: its own write + finish-advance (done). Thirteen before the merge.
    assert len(transactions) <= 7, [q["sql"] for q in queries.captured_queries]
    # Every round trip to the database lies on the path from a model's end to its report: the
    # request's fields are saved once per transaction, and fusion and report read the steps the
    # transaction that claimed them left in hand (61 queries before).
    assert len(queries.captured_queries) <= 55, len(queries.captured_queries)


def test_each_state_is_announced_once_and_a_finish_the_next_step_announces_is_not(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every watching socket gets every event, so none is sent for nothing: when a finished
    step's advance starts the next step in the same transaction, the next step's event (with
    the new progress) is the only one. A model's end keeps its own event."""
    from django.test import TestCase

    from cdss.core import events
    from inference.analysis import services
    from inference.analysis.services import analysis_step_execute

    published: list[tuple[str, str, int, str]] = []

    def capture(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
        if event_type.startswith("analysis.") or event_type == "report.ready":
            published.append((event_type, payload["step"], payload["progress"], payload.get("step_key", "")))

    monkeypatch.setattr(events, "event_publish", capture)
    monkeypatch.setattr(services, "messages_send", lambda messages: None)
    broker = InlineBroker()
    with TestCase.captureOnCommitCallbacks(execute=True):
        create(world, broker)
    for _, step_id, _ in list(broker.queue):  # imaging, then risk, as a worker would take them
        with TestCase.captureOnCommitCallbacks(execute=True):
            analysis_step_execute(step_id=step_id)
    assert [(t, s, p) for t, s, p, _ in published] == [
        ("analysis.status", "queued", 0),
        ("analysis.progress", "running model", 0),
        ("analysis.progress", "running model", 60),  # the model's end
        ("analysis.progress", "scoring", 60),
        ("analysis.progress", "fusing", 70),  # the risk step's end, announced by fusion's start
        ("analysis.progress", "writing report", 85),
        ("report.ready", "done", 100),
    ], published
    assert [step for _, step, _, key in published if key == "risk"] == ["scoring"]  # its start only


def test_the_hand_built_analysis_answer_equals_drfs_generic_rendering(world: World) -> None:
    """``AnalysisSerializer.to_representation`` is written out for speed: it must give DRF's own
    rendering field for field, for a request just created (steps passed in, no query for them),
    a finished one with its report, and a failed one."""
    from django.db import connection
    from django.test import TestCase
    from django.test.utils import CaptureQueriesContext
    from rest_framework import serializers as drf

    from inference.api.analyses import AnalysisSerializer

    broker = InlineBroker()
    with TestCase.captureOnCommitCallbacks(execute=True):
        created = analysis_request_create(actor=world.clinician, patient=world.patient, series_uids=[],
                                          model_keys=["noop"], idempotency_key="fresh", dispatch=broker)
    assert created.created and created.steps is not None
    fresh = AnalysisSerializer(created.analysis, context={"steps": created.steps})
    with CaptureQueriesContext(connection) as queries:
        answer = fresh.to_representation(created.analysis)
    assert len(queries.captured_queries) == 0
    assert answer == drf.ModelSerializer.to_representation(fresh, AnalysisRequest.objects.get(pk=created.analysis.pk))
    assert [s["status"] for s in answer["steps"]] == ["dispatched", "dispatched", "pending", "pending"]

    broker.drain()
    done = AnalysisRequest.objects.select_related("report").get(pk=created.analysis.pk)
    assert done.status == AnalysisStatus.SUCCEEDED
    fast = AnalysisSerializer(done)
    answer = fast.to_representation(done)
    assert answer == drf.ModelSerializer.to_representation(fast, done)
    assert answer["report_id"] == done.report.pk and answer["finished_at"] and answer["steps"][0]["started_at"]

    failed = create(world, InlineBroker(), key="to-fail")
    AnalysisRequest.objects.filter(pk=failed.pk).update(status=AnalysisStatus.FAILED, error_code="x_failed", error_message="m")
    failed.refresh_from_db()
    fast = AnalysisSerializer(failed)
    assert fast.to_representation(failed) == drf.ModelSerializer.to_representation(fast, failed)


def test_progress_counts_each_finished_step_for_its_own_share(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The risk step often ends while a model still runs: the bar then shows the risk step's
    share (10 %), not the share of everything up to it (70 %), and never goes back."""
    from django.test import TestCase

    from cdss.core import events
    from inference.analysis import services
    from inference.analysis.services import analysis_step_execute

    published: list[tuple[str, int]] = []

    def capture(*, groups: list[str], event_type: str, payload: dict[str, Any]) -> None:
        if event_type.startswith("analysis.") or event_type == "report.ready":
            published.append((payload["step"], payload["progress"]))

    monkeypatch.setattr(events, "event_publish", capture)
    monkeypatch.setattr(services, "messages_send", lambda messages: None)
    broker = InlineBroker()
    with TestCase.captureOnCommitCallbacks(execute=True):
        create(world, broker)
    for _, step_id, _ in reversed(list(broker.queue)):  # risk first, then the model
        with TestCase.captureOnCommitCallbacks(execute=True):
            analysis_step_execute(step_id=step_id)
    assert published == [
        ("queued", 0),
        ("scoring", 0),
        ("scoring", 10),  # the risk step's end, the model still to run
        ("running model", 10),
        ("running model", 70),  # the model's end
        ("fusing", 70),
        ("writing report", 85),
        ("done", 100),
    ], published

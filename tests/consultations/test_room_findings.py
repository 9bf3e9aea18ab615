"""The room's AI findings panel and live analysis progress, and the report scope of a by-study
share: a share limited to chosen reports never shows another report, its analysis or its
findings, over REST (list, detail, PDF, findings) or over a socket (patient events, room)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from cdss.core.events import event_publish, patient_group
from inference.models import AnalysisRequest, ImagingFinding, Report, ReportStatus
from inference.reports.content import content_sha256
from tests.conftest import client_for
from tests.consultations.conftest import Consult, consult_world, open_consultation
from tests.consultations.test_room import _connect, _until

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Work:
    shared_analysis: AnalysisRequest
    shared_report: Report
    shared_finding: ImagingFinding
    other_analysis: AnalysisRequest
    other_report: Report
    other_finding: ImagingFinding


def _work(c: Consult) -> Work:
    content: dict[str, Any] = {"schema": "cdss.report/1", "scores": {}}
    made: list[Any] = []
    for n in (1, 2):
        analysis = AnalysisRequest.objects.create(patient=c.patient, requested_by=c.clinician, idempotency_key=f"room-{n}",
                                                  status="succeeded", progress=100, current_step="done")
        report = Report.objects.create(patient=c.patient, analysis=analysis, request=analysis, version=n,
                                       status=ReportStatus.DRAFT, content=content, content_sha256=content_sha256(content))
        finding = ImagingFinding.objects.create(
            analysis=analysis, patient=c.patient, kind="lesion", step_key=f"imaging:liver:{n}", source_ref="lesion:1",
            series_uid=c.series.series_instance_uid, model_key="liver_ct_seg", model_version=f"1.{n}.0",
            label="liver_lesion", proposed={"longest_axial_diameter_mm": 18.0}, values={"longest_axial_diameter_mm": 18.0},
            reason="Zebulon's scan reviewed",
        )
        made.append((analysis, report, finding))
    (a1, r1, f1), (a2, r2, f2) = made
    return Work(a1, r1, f1, a2, r2, f2)


@pytest.fixture
def tconsult(transactional_db: Any) -> Consult:
    return consult_world()


def test_findings_panel_for_both_sides(tconsult: Consult) -> None:
    c = tconsult
    work = _work(c)
    data = open_consultation(c)  # the whole record, de-identified
    path = f"/api/v1/consultations/{data['id']}/room/findings/"
    seen = client_for(c.consultant).get(path).json()
    assert seen["may_decide"] is False and "supports, not replaces, clinical judgement" in seen["notice"]
    findings = {f["id"]: f for a in seen["analyses"] for f in a["findings"]}
    assert set(findings) == {work.shared_finding.pk, work.other_finding.pk}
    one = findings[work.shared_finding.pk]
    assert (one["model_key"], one["model_version"], one["status"]) == ("liver_ct_seg", "1.1.0", "proposed")
    assert one["model_name"] and one["values"] == {"longest_axial_diameter_mm": 18.0}
    # De-identified: pseudonymous UIDs and no free text.
    assert one["series_uid"].startswith("2.25.") and one["reason"] == ""
    assert "Zebulon" not in str(seen) and c.series.series_instance_uid not in str(seen)
    # The consultant sees the findings but cannot decide them.
    decide = client_for(c.consultant).post(f"/api/v1/findings/{work.shared_finding.pk}/decide/",
                                           {"status": "accepted"}, format="json")
    assert decide.status_code == 403
    mine = client_for(c.clinician).get(path).json()
    assert mine["may_decide"] is True
    assert {f["reason"] for a in mine["analyses"] for f in a["findings"]} == {"Zebulon's scan reviewed"}
    # Not a side of this consultation: the same 404 as for a missing one.
    assert client_for(c.other_consultant).get(path).status_code == 404


def test_by_study_share_limited_to_chosen_reports_never_leaks_another(tconsult: Consult) -> None:
    c = tconsult
    work = _work(c)
    data = open_consultation(c, scope="studies", study_uids=[c.study.study_instance_uid],
                             report_ids=[work.shared_report.pk], identifiable=True)
    consultant = client_for(c.consultant)
    listed = consultant.get(f"/api/v1/patients/{c.patient.pk}/reports/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in rows] == [work.shared_report.pk]
    for path in (f"/api/v1/reports/{work.other_report.pk}/", f"/api/v1/reports/{work.other_report.pk}/export/pdf/",
                 f"/api/v1/reports/{work.other_report.pk}/findings/", f"/api/v1/analyses/{work.other_analysis.pk}/",
                 f"/api/v1/analyses/{work.other_analysis.pk}/findings/", f"/api/v1/findings/{work.other_finding.pk}/"):
        assert consultant.get(path).status_code == 404, path
    assert consultant.get(f"/api/v1/reports/{work.shared_report.pk}/").status_code == 200
    assert consultant.get(f"/api/v1/findings/{work.shared_finding.pk}/").status_code == 200
    found = consultant.get(f"/api/v1/patients/{c.patient.pk}/imaging-findings/")
    assert found.status_code == 200 and str(work.other_finding.pk) not in {str(f.get("id")) for f in _items(found.json())}
    panel = consultant.get(f"/api/v1/consultations/{data['id']}/room/findings/").json()
    assert [a["id"] for a in panel["analyses"]] == [work.shared_analysis.pk]
    assert [a["report_id"] for a in panel["analyses"]] == [work.shared_report.pk]
    # The care team still sees both.
    assert client_for(c.clinician).get(f"/api/v1/reports/{work.other_report.pk}/").status_code == 200
    asyncio.run(_live_events_scoped(c, work, data["id"]))


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        return [f for v in body.values() if isinstance(v, list) for f in v if isinstance(f, dict)]
    return [f for f in body if isinstance(f, dict)]


def _progress(analysis: AnalysisRequest, progress: int) -> None:
    event_publish(groups=[patient_group(analysis.patient_id)], event_type="analysis.progress",
                  payload={"request_id": analysis.pk, "patient_id": analysis.patient_id, "status": "running",
                           "step": "model", "progress": progress, "error_code": None, "report_id": None})


def _changed(patient_id: int, record: str, ids: list[int]) -> None:
    event_publish(groups=[patient_group(patient_id)], event_type="record.changed",
                  payload={"patient_id": patient_id, "record": record, "action": "created", "ids": ids})


async def _drain(communicator: WebsocketCommunicator, timeout: float = 1.0) -> list[dict[str, Any]]:
    """Everything the socket has said until it stays quiet for ``timeout`` (receive_nothing
    leaves the application running, where a receive that times out would cancel it)."""
    got: list[dict[str, Any]] = []
    while not await communicator.receive_nothing(timeout=timeout):
        got.append(await communicator.receive_json_from(timeout=5))
    return got


async def _live_events_scoped(c: Consult, work: Work, consultation_id: int) -> None:
    room_path = f"/ws/consultations/{consultation_id}/room/"
    events_path = f"/ws/patients/{c.patient.pk}/"
    consultant_room, ok, _ = await _connect(room_path, c.consultant)
    assert ok
    clinician_room, ok, _ = await _connect(room_path, c.clinician)
    assert ok
    consultant_events, ok, _ = await _connect(events_path, c.consultant)
    assert ok
    snapshot = await _until(consultant_events, "state.snapshot")
    assert [a["request_id"] for a in snapshot["analyses"]] == [work.shared_analysis.pk]
    await _drain(consultant_room, 0.3)
    await _drain(clinician_room, 0.3)

    publish = sync_to_async(_progress)
    await publish(work.other_analysis, 40)
    await publish(work.shared_analysis, 60)
    await sync_to_async(_changed)(c.patient.pk, "report", [work.other_report.pk, work.shared_report.pk])
    await sync_to_async(_changed)(c.patient.pk, "finding", [work.other_finding.pk])

    for socket in (consultant_room, consultant_events):
        got = [e for e in await _drain(socket) if e["type"] in ("analysis.progress", "record.changed")]
        assert [(e["type"], e.get("request_id"), e.get("ids")) for e in got] == [
            ("analysis.progress", work.shared_analysis.pk, None),
            ("record.changed", None, [work.shared_report.pk]),
        ], got
        assert str(work.other_report.pk) not in str([e.get("ids") for e in got])
    # The clinician's room shows the progress of every analysis of the patient.
    heard = [e for e in await _drain(clinician_room) if e["type"] == "analysis.progress"]
    assert [e["request_id"] for e in heard] == [work.other_analysis.pk, work.shared_analysis.pk]
    for socket in (consultant_room, clinician_room, consultant_events):
        await socket.disconnect()

"""A signed second opinion joins the patient's next report version: a new immutable draft,
attributed to the consultant, that a clinician signs like any other version."""

from __future__ import annotations

from typing import Any

from inference.models import AnalysisRequest, Report, ReportStatus
from inference.reports.content import content_sha256
from inference.reports.opinions import CONTENT_KEY, second_opinions_add_unreported, second_opinions_carry
from inference.reports.services import report_create_for_request, report_sign, report_verify
from tests.conftest import client_for
from tests.consultations.conftest import Consult, open_consultation

BODY = {"answer": "Yes: LI-RADS 5 in segment 7.", "recommendations": ["MDT discussion"], "urgency": "urgent"}


def _report(consult: Consult, version: int, status: str = ReportStatus.DRAFT, **extra: Any) -> Report:
    content: dict[str, Any] = {"schema": "cdss.report/1", "scores": {"meld": 12}, **extra}
    return Report.objects.create(patient=consult.patient, version=version, status=status, content=content,
                                 content_sha256=content_sha256(content))


def _sign(consult: Consult) -> dict[str, Any]:
    data = open_consultation(consult)
    signed = client_for(consult.consultant).post(f"/api/v1/consultations/{data['id']}/opinion/", BODY, format="json")
    assert signed.status_code == 201, signed.content
    result: dict[str, Any] = signed.json()
    return result


def test_signed_opinion_makes_the_next_draft_version(consult: Consult) -> None:
    signed_report = _report(consult, 1, ReportStatus.FINAL)
    opinion = _sign(consult)
    newest = Report.objects.filter(patient=consult.patient).order_by("-version").first()
    assert newest is not None and newest.version == 2 and newest.status == ReportStatus.DRAFT
    assert newest.derived_from_id == signed_report.pk and newest.created_by_id == consult.consultant.pk
    assert report_verify(newest)
    (entry,) = newest.content[CONTENT_KEY]
    assert entry["ref"] == f"consult_opinion:{opinion['id']}" and entry["opinion_id"] == opinion["id"]
    assert entry["answer"] == BODY["answer"] and entry["recommendations"] == ["MDT discussion"]
    assert entry["author_id"] == consult.consultant.pk and entry["content_sha256"] == opinion["content_sha256"]
    assert newest.content["scores"] == {"meld": 12}  # the rest of the newest version is kept
    # The signed version is untouched (immutable) until the clinician signs the new one.
    signed_report.refresh_from_db()
    assert CONTENT_KEY not in signed_report.content and signed_report.status == ReportStatus.FINAL
    report_sign(actor=consult.clinician, report=newest)
    signed_report.refresh_from_db()
    assert signed_report.status == ReportStatus.SUPERSEDED


def test_opinion_joins_the_newest_draft_not_an_older_signed_version(consult: Consult) -> None:
    _report(consult, 1, ReportStatus.FINAL)
    draft = _report(consult, 2, amendment={"text": "corrected"})
    _sign(consult)
    newest = Report.objects.filter(patient=consult.patient).order_by("-version").first()
    assert newest is not None and newest.version == 3 and newest.derived_from_id == draft.pk
    assert newest.content["amendment"] == {"text": "corrected"} and len(newest.content[CONTENT_KEY]) == 1


def test_without_a_report_the_opinion_joins_the_first_one(consult: Consult) -> None:
    opinion = _sign(consult)
    assert not Report.objects.filter(patient=consult.patient).exists()
    listed = client_for(consult.clinician).get(f"/api/v1/patients/{consult.patient.pk}/opinions/").json()
    assert [o["answer"] for o in listed] == [BODY["answer"]]
    # The next report an analysis makes carries it, once (the report step adds what no version carries).
    first = report_create_for_request(analysis=_analysis(consult, "a"), content=_step_content(consult))
    assert [o["ref"] for o in first.content[CONTENT_KEY]] == [f"consult_opinion:{opinion['id']}"]
    assert first.content[CONTENT_KEY][0]["author_id"] == consult.consultant.pk and report_verify(first)
    second = report_create_for_request(analysis=_analysis(consult, "b"), content=_step_content(consult))
    assert CONTENT_KEY not in second.content


def _step_content(consult: Consult) -> dict[str, Any]:
    return second_opinions_add_unreported(patient_id=consult.patient.pk, content={"schema": "cdss.report/1"})


def _analysis(consult: Consult, key: str) -> AnalysisRequest:
    return AnalysisRequest.objects.create(patient=consult.patient, requested_by=consult.clinician, idempotency_key=key)


def test_later_versions_keep_the_opinions() -> None:
    opinion = {"ref": "consult_opinion:1", "answer": "a"}
    assert second_opinions_carry({CONTENT_KEY: [opinion]}, {"x": 1}) == {"x": 1, CONTENT_KEY: [opinion]}
    both = second_opinions_carry({CONTENT_KEY: [opinion]}, {CONTENT_KEY: [opinion, {"ref": "consult_opinion:2"}]})
    assert [o["ref"] for o in both[CONTENT_KEY]] == ["consult_opinion:1", "consult_opinion:2"]
    assert second_opinions_carry({}, {"x": 1}) == {"x": 1}


def test_the_report_document_shows_the_second_opinion(consult: Consult) -> None:
    from inference.reports.presentation import report_document

    _report(consult, 1, ReportStatus.FINAL)
    _sign(consult)
    newest = Report.objects.filter(patient=consult.patient).order_by("-version").first()
    assert newest is not None
    (line,) = report_document(newest).second_opinions
    assert line.answer == BODY["answer"] and line.recommendations == ["MDT discussion"] and line.urgency == "Urgent"
    assert line.author == " ".join(p for p in (consult.consultant.first_name, consult.consultant.last_name) if p)
    html = client_for(consult.clinician).get(f"/api/v1/reports/{newest.pk}/export/html/")
    assert html.status_code == 200
    text = html.content.decode()
    assert "Second opinion" in text and BODY["answer"] in text and "MDT discussion" in text

"""Second opinions in reports: a consultant's signed opinion joins the patient's next report
version, attributed to the consultant.

The opinion lives in the consultation layer above this one, which calls in here with the
opinion's reference and text (this module never imports it). Like a finding decision or an
amendment, attaching makes a new immutable *draft* version beside whatever is signed: the
newest version's content with the opinion added under ``second_opinions``. A clinician signs
that draft like any other; later drafts derived from it keep the list (``second_opinions_carry``).
An opinion signed while the patient has no report yet joins the first report an analysis makes:
the consultation layer registers where its signed opinions are (``second_opinion_source_register``)
and the report step adds those no report of the patient carries (``second_opinions_add_unreported``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from inference.models import Report, ReportStatus
from inference.reports.services import report_draft_create, report_patient_lock
from patients.services.events import record_changed_publish

CONTENT_KEY = "second_opinions"


@dataclass(frozen=True)
class SecondOpinion:
    """What a report keeps of a signed opinion: the reference back to it and its text."""

    ref: str  # "consult_opinion:<id>"
    opinion_id: int
    consultation_id: int
    author_id: int
    author: str
    answer: str
    recommendations: list[str]
    urgency: str
    signed_at: str  # ISO 8601
    content_sha256: str  # the opinion's own signature digest


OpinionSource = Callable[[int], list[SecondOpinion]]
_SOURCES: list[OpinionSource] = []


def second_opinion_source_register(source: OpinionSource) -> None:
    """``source(patient_id)``: the patient's signed opinions (called by the layer that has them)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def second_opinions_add_unreported(*, patient_id: int, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` of a new report with the patient's signed opinions that no version carries yet."""
    opinions = [o for source in _SOURCES for o in source(patient_id)]
    if not opinions:
        return content
    reported = {
        item.get("ref")
        for items in Report.objects.filter(patient_id=patient_id).values_list(f"content__{CONTENT_KEY}", flat=True)
        if isinstance(items, list) for item in items if isinstance(item, dict)
    }
    reported.update(i.get("ref") for i in second_opinions_of(content))
    new = [asdict(o) for o in opinions if o.ref not in reported]
    return {**content, CONTENT_KEY: [*second_opinions_of(content), *new]} if new else content


def second_opinions_of(content: dict[str, Any]) -> list[dict[str, Any]]:
    items = content.get(CONTENT_KEY)
    return [dict(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def second_opinions_carry(previous: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """``content`` (a new version's) with the opinions of the version it derives from kept."""
    kept = second_opinions_of(previous)
    if not kept:
        return content
    known = {i.get("ref") for i in second_opinions_of(content)}
    merged = [*second_opinions_of(content), *(i for i in kept if i.get("ref") not in known)]
    return {**content, CONTENT_KEY: merged}


def report_opinion_attach(*, actor: Any, patient_id: int, opinion: SecondOpinion, request: Any = None) -> Report | None:
    """A new draft version of the patient's newest report with ``opinion`` added; the draft
    itself when that version already carries it; None while the patient has no report (the
    opinion then stays in the record only)."""
    with transaction.atomic():
        reports = report_patient_lock(patient_id)
        if not reports:
            return None
        base = max(reports.values(), key=lambda r: r.version)
        existing = second_opinions_of(base.content)
        if any(i.get("ref") == opinion.ref for i in existing):
            return base
        content = {**base.content, CONTENT_KEY: [*existing, asdict(opinion)]}
        content["derived_from"] = {"report_id": base.pk, "version": base.version, "reason": "second_opinion"}
        # A draft amendment stays one: the opinion joins it without changing what it amends.
        amends = reports.get(base.amends_id) if base.status == ReportStatus.DRAFT and base.amends_id else None
        draft = report_draft_create(actor=actor, patient_id=patient_id, content=content,
                                    analysis_id=base.analysis_id, amends=amends, derived_from=base)
        audit_record(actor=actor, action=AuditAction.CREATE, object_type="report", object_id=draft.pk,
                     patient_id=patient_id, request=request,
                     detail={"derived_from": base.pk, "reason": "second_opinion", "opinion_id": opinion.opinion_id})
        record_changed_publish(patient_id=patient_id, record="report", action="created", ids=[draft.pk])
    return draft

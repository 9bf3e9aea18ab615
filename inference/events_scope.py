"""Live events as a by-study share sees them.

A patient's socket group carries every analysis, report and finding event of the patient. A
consultant whose share is limited to chosen reports (``patients.access.report_scope_q``) may
hear only of those reports, the analyses behind them and their findings: anything else is
dropped, and ``record.changed`` ids are cut down to the shared ones. The sets are read once
when the socket is authorised; a by-study share names its reports at creation, so they do not
grow while the socket is open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdss.accounts.models import Role
from inference.selectors import analyses_for_user, findings_for_user, reports_for_user
from patients.access import share_grants_active
from patients.models import ShareScope

_ANALYSIS_EVENTS = frozenset({"analysis.status", "analysis.progress", "report.ready"})


@dataclass(frozen=True)
class EventScope:
    reports: frozenset[int]
    analyses: frozenset[int]
    findings: frozenset[int]

    def _ids_of(self, record: Any) -> frozenset[int] | None:
        return {"report": self.reports, "analysis": self.analyses, "finding": self.findings}.get(record)

    def event_for_socket(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The event as this share may see it, or None when it may not see it at all."""
        kind = event.get("type")
        if kind in _ANALYSIS_EVENTS:
            if event.get("request_id") not in self.analyses:
                return None
            if event.get("report_id") is not None and event.get("report_id") not in self.reports:
                return {**event, "report_id": None}
            return event
        if kind == "record.changed":
            allowed = self._ids_of(event.get("record"))
            if allowed is None:
                return event
            ids = [i for i in event.get("ids") or [] if i in allowed]
            return {**event, "ids": ids} if ids else None
        return event


def event_scope_for_user(user: Any, patient_id: int) -> EventScope | None:
    """None when the user hears every event of the patient (a care team, or a share of the
    whole record); otherwise what their by-study share lets through."""
    if getattr(user, "role", None) != Role.CONSULTANT:
        return None
    grants = share_grants_active(user).filter(patient_id=patient_id)
    if grants.filter(scope=ShareScope.RECORD).exists():
        return None
    return EventScope(
        reports=frozenset(reports_for_user(user).filter(patient_id=patient_id).values_list("pk", flat=True)),
        analyses=frozenset(analyses_for_user(user).filter(patient_id=patient_id).values_list("pk", flat=True)),
        findings=frozenset(findings_for_user(user).filter(patient_id=patient_id).values_list("pk", flat=True)),
    )

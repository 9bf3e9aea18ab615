"""The consult room's rules, apart from the socket that carries them: what series the room
shows to whom, and which viewer-sync and signalling messages are passed on (numbers and ids
only, bounded in size, so the room can never carry patient data or flood the others)."""

from __future__ import annotations

import math
from typing import Any

from consultations.models import Consultation
from imaging.deid import burned_in_risk_of, share_pseudonym_for, uid_for_user
from imaging.models import ImagingSeries
from inference.registry import ModelCardInvalid, model_list
from inference.reports.services import user_display_name
from inference.reports.signing import report_user_may_sign
from inference.selectors import analyses_for_user, findings_for_user, reports_for_user
from patients.access import study_scope_q


class RoomMessageInvalid(ValueError):
    pass


def room_series_for_user(user: Any, consultation: Consultation) -> list[dict[str, Any]]:
    """The series of the shared studies, by ImagingSeries id (what sync messages name), with the
    UIDs this user's browser uses (pseudonymous ones for a de-identified share) and whether the
    room withholds their pixels (``imaging.deid``: burned-in annotation)."""
    rows = (
        ImagingSeries.objects.filter(study__patient_id=consultation.patient_id)
        .filter(study_scope_q(user, patient_field="study__patient_id", uid_field="study__study_instance_uid"))
        .select_related("study").order_by("study__study_date", "study_id", "series_number", "pk")
    )
    deidentified = share_pseudonym_for(user, consultation.patient_id) is not None
    return [
        {"id": s.pk, "study_uid": uid_for_user(user, consultation.patient_id, s.study.study_instance_uid),
         "series_uid": uid_for_user(user, consultation.patient_id, s.series_instance_uid),
         "modality": s.modality, "description": "" if _hidden(user, consultation) else (s.description or ""),
         # A de-identified share's room shows no pixels that may carry burned-in identifying text.
         "pixels_withheld": deidentified and burned_in_risk_of(burned_in=None, modality=s.modality, sop_class=None)}
        for s in rows
    ]


def _hidden(user: Any, consultation: Consultation) -> bool:
    return bool(consultation.consultant_id == user.pk and not consultation.identifiable)


def _number(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RoomMessageInvalid("not a number")
    return float(min(max(value, low), high))


def _point(value: Any, bound: float) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise RoomMessageInvalid("not a point")
    return [_number(value[0], -bound, bound), _number(value[1], -bound, bound)]


def viewer_state_clean(raw: Any) -> dict[str, Any]:
    """A presenter's viewer state, as the followers get it: series (ImagingSeries id), slice
    index, window width/centre, zoom, pan and pointer (fractions of the image), nothing else."""
    if not isinstance(raw, dict):
        raise RoomMessageInvalid("state must be an object")
    series = raw.get("series")
    if isinstance(series, bool) or not isinstance(series, int) or series <= 0:
        raise RoomMessageInvalid("series must be an id")
    index = raw.get("slice")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 100_000:
        raise RoomMessageInvalid("slice must be an index")
    return {
        "series": series,
        "slice": index,
        "ww": _number(raw.get("ww"), 1, 100_000),
        "wc": _number(raw.get("wc"), -100_000, 100_000),
        "zoom": _number(raw.get("zoom", 1), 0.05, 40),
        "pan": _point(raw.get("pan", [0, 0]), 10) or [0.0, 0.0],
        "pointer": _point(raw.get("pointer"), 1),
    }


SIGNAL_MAX_CHARS = 64_000


def rtc_signal_clean(raw: Any) -> dict[str, Any]:
    """A WebRTC signalling message: an SDP offer/answer, an ICE candidate or a hang-up."""
    if not isinstance(raw, dict):
        raise RoomMessageInvalid("signal must be an object")
    if "sdp" in raw:
        sdp = raw["sdp"]
        if not isinstance(sdp, dict) or sdp.get("type") not in ("offer", "answer") or not isinstance(sdp.get("sdp"), str):
            raise RoomMessageInvalid("bad sdp")
        if len(sdp["sdp"]) > SIGNAL_MAX_CHARS:
            raise RoomMessageInvalid("sdp too long")
        return {"sdp": {"type": sdp["type"], "sdp": sdp["sdp"]}}
    if "candidate" in raw:
        candidate = raw["candidate"]
        if candidate is None:
            return {"candidate": None}
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
            raise RoomMessageInvalid("bad candidate")
        mid = candidate.get("sdpMid")
        index = candidate.get("sdpMLineIndex")
        return {"candidate": {
            "candidate": candidate["candidate"][:2000],
            "sdpMid": mid if isinstance(mid, str) and len(mid) < 64 else None,
            "sdpMLineIndex": index if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 64 else None,
        }}
    if raw.get("hangup") is True:
        return {"hangup": True}
    raise RoomMessageInvalid("unknown signal")


# --- the AI findings panel ------------------------------------------------------------------------

AI_NOTICE = "Each AI finding supports, not replaces, clinical judgement."
ROOM_ANALYSES_MAX = 10


def _model_names() -> dict[str, str]:
    try:
        return {card.key: str(card.data.get("name", card.key)) for card in model_list()}
    except (ModelCardInvalid, OSError):  # a broken card must not hide the panel: the key stands in
        return {}


def room_findings_for_user(user: Any, consultation: Consultation) -> dict[str, Any]:
    """The analyses of the shared patient this user may see (a by-study share: those behind
    its reports), each with its progress and its findings: what, by which model and version,
    and where the review stands. Free text (reasons) and real UIDs stay out for a de-identified
    share; whether this user may decide findings is the report module's rule."""
    hidden = _hidden(user, consultation)
    analyses = list(
        analyses_for_user(user).filter(patient_id=consultation.patient_id).select_related("report")
        .order_by("-created_at")[:ROOM_ANALYSES_MAX]
    )
    findings = list(findings_for_user(user).filter(analysis__in=analyses).select_related("decided_by").order_by("kind", "id"))
    visible_reports = _visible_reports(user, consultation)
    names = _model_names()
    rows = []
    for analysis in analyses:
        report = getattr(analysis, "report", None)
        rows.append({
            "id": analysis.pk, "status": analysis.status, "step": analysis.current_step or "queued",
            "progress": analysis.progress, "created_at": analysis.created_at.isoformat(),
            "report_id": report.pk if report is not None and report.pk in visible_reports else None,
            "findings": [{
                "id": f.pk, "kind": f.kind, "label": f.label, "status": f.status, "source": f.source,
                "counts": f.counts, "model_key": f.model_key, "model_name": names.get(f.model_key, f.model_key),
                "model_version": f.model_version, "values": f.values,
                "series_uid": uid_for_user(user, consultation.patient_id, f.series_uid) if f.series_uid else "",
                "decided_by": user_display_name(f.decided_by),
                "decided_at": f.decided_at.isoformat() if f.decided_at else None,
                "reason": "" if hidden else f.reason,
            } for f in findings if f.analysis_id == analysis.pk],
        })
    return {"may_decide": report_user_may_sign(user), "notice": AI_NOTICE, "analyses": rows}


def _visible_reports(user: Any, consultation: Consultation) -> set[int]:
    return set(reports_for_user(user).filter(patient_id=consultation.patient_id).values_list("pk", flat=True))

"""Which consultations a user may see: scoped like every other lookup (missing = not yours = 404)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from cdss.accounts.models import CareTeam, Role, User
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_mark
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied
from cdss.core.ids import id_for_audit, id_parse
from consultations.models import Consultation, ConsultationStatus, Opinion
from consultations.services import consultation_state
from patients.access import patient_get_for_user, patient_pseudonyms_for_user, patients_for_user
from patients.models import Patient


def consultations_for_user(user: Any) -> QuerySet[Consultation]:
    """A clinician: consultations about the patients of their care teams. A consultant: those
    asked of them (or of their group, until someone accepts) that are still pending or open and
    unexpired; a closed, declined or expired one is gone from their view, with its patient."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Consultation.objects.none()
    role = getattr(user, "role", None)
    base = Consultation.objects.select_related("requested_by", "consultant", "consultant_group", "opinion")
    if role == Role.ADMIN:
        return base.all()
    if role == Role.CLINICIAN:
        return base.filter(Q(requested_by=user) | Q(patient__in=patients_for_user(user))).distinct()
    if role == Role.CONSULTANT:
        mine = Q(consultant=user) | Q(consultant__isnull=True, consultant_group__members=user)
        live = Q(status__in=[ConsultationStatus.REQUESTED, ConsultationStatus.OPEN]) & Q(expires_at__gt=timezone.now())
        return base.filter(mine & live).distinct()
    return Consultation.objects.none()


def consultations_recent_for_user(user: Any, *, patient_id: Any = None, limit: int = 200) -> list[Consultation]:
    """The newest consultations this user may see, of one patient when ``patient_id`` is given
    (an id that cannot exist finds none)."""
    rows = consultations_for_user(user).select_related("patient", "grant").order_by("-opened_at")
    if patient_id:
        patient_pk = id_parse(patient_id)  # "²".isdigit() is true, int("²") fails
        rows = rows.filter(patient_id=patient_pk) if patient_pk is not None else rows.none()
    return list(rows[:limit])


def consultation_get_for_user(user: Any, consultation_id: Any, *, request: Any = None) -> Consultation:
    pk = id_parse(consultation_id)
    consultation = consultations_for_user(user).filter(pk=pk).first() if pk is not None else None
    if consultation is None:
        audit_record(actor=user, action=AuditAction.READ, object_type="consultation",
                     object_id=id_for_audit(consultation_id), outcome=AuditOutcome.DENIED, request=request)
        raise NotFound("Consultation not found.")
    read_audit_mark(object_type="consultation", object_id=consultation.pk, patient_id=consultation.patient_id)
    return consultation


def room_consultation_for_user(user: Any, consultation_id: Any, *, request: Any = None) -> Consultation:
    """The consultation whose room this user may enter now: only its two sides (403), only
    while it is open (404), and only while the access module lets the user see the patient."""
    consultation = consultation_get_for_user(user, consultation_id, request=request)
    if user.pk not in (consultation.requested_by_id, consultation.consultant_id):
        raise PermissionDenied("Only the two sides of a consultation enter its room.")
    if consultation_state(consultation) != "open" or consultation.thread_id is None:
        raise NotFound("The room is not open.")
    patient_get_for_user(user, consultation.patient_id, request=request)
    return consultation


def opinion_get_for_user(user: Any, consultation_id: Any, *, request: Any = None) -> Opinion:
    """The signed opinion of a consultation this user may see; 404 until there is one."""
    consultation = consultation_get_for_user(user, consultation_id, request=request)
    opinion = getattr(consultation, "opinion", None)
    if opinion is None:
        raise NotFound("No opinion yet.")
    return opinion


def opinions_of_patient(*, patient: Patient) -> QuerySet[Opinion]:
    return Opinion.objects.filter(patient=patient).select_related("author", "consultation").order_by("-signed_at")


def consultation_patient_labels(user: Any, consultations: list[Consultation]) -> dict[int, str]:
    """Patient label per consultation, as this user may see it: the name for the requesting
    side and an identifiable share, the grant's pseudonym for a de-identified one, nothing
    before the consultant has accepted."""
    pseudonyms = patient_pseudonyms_for_user(user)
    labels: dict[int, str] = {}
    for c in consultations:
        if getattr(user, "role", None) != Role.CONSULTANT:
            labels[c.pk] = f"{c.patient.given_name} {c.patient.family_name}"
        elif c.patient_id in pseudonyms:
            labels[c.pk] = pseudonyms[c.patient_id]
        elif c.grant is not None and c.grant.is_active() and c.identifiable:
            labels[c.pk] = f"{c.patient.given_name} {c.patient.family_name}"
        else:
            labels[c.pk] = "Shared on acceptance"
    return labels


def consultant_directory_for_user(user: Any) -> dict[str, list[dict[str, Any]]]:
    """Who a clinician can ask: active consultants and the groups that have one (403 to others)."""
    if getattr(user, "role", None) not in (Role.CLINICIAN, Role.ADMIN):
        raise PermissionDenied("Only clinicians request consultations.")
    people = User.objects.filter(role=Role.CONSULTANT, is_active=True).order_by("last_name", "username")
    groups = CareTeam.objects.filter(members__role=Role.CONSULTANT, members__is_active=True).distinct().order_by("name")
    return {
        "consultants": [{"id": u.pk, "name": " ".join(p for p in (u.first_name, u.last_name) if p) or u.username}
                        for u in people],
        "groups": [{"id": g.pk, "name": g.name} for g in groups],
    }

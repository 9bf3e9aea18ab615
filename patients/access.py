"""THE module that decides which patients a user may see.

Every API, the DICOMweb proxy, exports and WebSocket subscriptions fetch patients through
``patients_for_user`` / ``patient_get_for_user``. A patient the user may not see is reported
exactly like a missing one (``NotFound``), so existence never leaks.

- clinician: patients of the care teams they belong to
- consultant: patients shared with them by a ``ShareGrant`` that has not expired or been
  revoked; the check compares with the current time, so a grant ends at its expiry without
  any job having to run. A de-identified grant shows a pseudonym and an age band instead of
  identifiers (``patient_identifiable_for_user``, ``patient_deidentified_view``); a grant
  scoped to chosen studies limits imaging to those StudyInstanceUIDs (``study_scope_q``) and
  reports to the chosen report ids (``report_scope_q``)
- patient: their own record only
- admin: every patient (each access is audited like any other)

Grants are created and ended here (``share_grant_create``, ``share_grant_end``) by the
consultation workflow, which sits in a layer above and is never imported from here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from cdss.accounts.models import CareTeam, Role
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_mark
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied, ValidationFailed
from cdss.core.events import access_group, event_publish_on_commit
from cdss.core.ids import id_for_audit, id_parse
from patients.models import Patient, ShareGrant, ShareScope


def share_grants_active(user: Any, *, now: dt.datetime | None = None) -> QuerySet[ShareGrant]:
    return ShareGrant.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now or timezone.now())


def patients_for_user(user: Any) -> QuerySet[Patient]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    role = getattr(user, "role", None)
    if role == Role.ADMIN:
        return Patient.objects.all()
    if role == Role.CLINICIAN:
        return Patient.objects.filter(care_team__members=user)
    if role == Role.CONSULTANT:
        return Patient.objects.filter(pk__in=share_grants_active(user).values("patient_id"))
    if role == Role.PATIENT:
        return Patient.objects.filter(user=user)
    return Patient.objects.none()


def patient_get_for_user(user: Any, patient_id: Any, *, request: Any = None, action: str = AuditAction.READ) -> Patient:
    """The patient if this user may see it; otherwise NotFound, and the denial is audited
    (also for an id that cannot exist, such as one beyond 64 bits: the attempt is recorded).
    A patient let through is marked as what the request reads (``cdss.audit.reads``)."""
    patient_pk = id_parse(patient_id)
    patient = patients_for_user(user).filter(pk=patient_pk).first() if patient_pk is not None else None
    if patient is None:
        audit_record(
            actor=user, action=action, object_type="patient", object_id=id_for_audit(patient_id),
            patient_id=patient_pk, outcome=AuditOutcome.DENIED, request=request,
        )
        raise NotFound("Patient not found.")
    read_audit_mark(object_type="patient", object_id=patient.pk, patient_id=patient.pk)
    return patient


def patient_care_team_default(user: Any) -> CareTeam | None:
    """The care team a patient this user creates joins when none is named: a clinician's
    first team, so that they see the patient they made; None for anyone else."""
    if getattr(user, "role", None) != Role.CLINICIAN or not getattr(user, "is_authenticated", False):
        return None
    return CareTeam.objects.filter(members=user).order_by("pk").first()


def patient_ids_for_user(user: Any) -> QuerySet[Any]:
    return patients_for_user(user).values("pk")


def user_may_edit_patients(user: Any) -> bool:
    """Consultants and patients read; clinicians and admins write."""
    return getattr(user, "role", None) in (Role.CLINICIAN, Role.ADMIN)


def patient_get_for_edit(user: Any, patient_id: Any, *, request: Any = None) -> Patient:
    """Visibility first (404, like a missing patient), then the right to change it (403)."""
    patient = patient_get_for_user(user, patient_id, request=request, action=AuditAction.UPDATE)
    if not user_may_edit_patients(user):
        audit_record(
            actor=user, action=AuditAction.UPDATE, object_type="patient", object_id=patient.pk,
            patient_id=patient.pk, outcome=AuditOutcome.DENIED, request=request,
        )
        raise PermissionDenied("Only clinicians may change clinical records.")
    return patient


def patient_get_for_export(user: Any, patient_id: Any, *, request: Any = None) -> Patient:
    """Like ``patient_get_for_user``, for a document that carries identifiers by nature (a FHIR
    bundle, a printed report): a user who sees the patient only de-identified gets NotFound."""
    patient = patient_get_for_user(user, patient_id, request=request)
    if not patient_identifiable_for_user(user, patient.pk):
        audit_record(
            actor=user, action=AuditAction.EXPORT, object_type="patient", object_id=patient.pk,
            patient_id=patient.pk, outcome=AuditOutcome.DENIED, request=request, detail={"deidentified": True},
        )
        raise NotFound("Patient not found.")
    return patient


# --- shares with consultants -------------------------------------------------------------------

def _is_consultant(user: Any) -> bool:
    return getattr(user, "role", None) == Role.CONSULTANT


def patient_pseudonyms_for_user(user: Any) -> dict[int, str]:
    """patient id -> pseudonym, for each patient this user sees only de-identified.

    A consultant holding an identifiable grant on a patient sees that patient identified;
    everyone else who may see a patient at all sees it identified.
    """
    if not _is_consultant(user):
        return {}
    hidden: dict[int, str] = {}
    shown: set[int] = set()
    for patient_id, identifiable, pseudonym in (
        share_grants_active(user).order_by("pk").values_list("patient_id", "identifiable", "pseudonym")
    ):
        if identifiable:
            shown.add(patient_id)
        else:
            hidden.setdefault(patient_id, pseudonym)
    return {pid: name for pid, name in hidden.items() if pid not in shown}


def patient_identifiable_for_user(user: Any, patient_id: int) -> bool:
    return patient_id not in patient_pseudonyms_for_user(user)


def age_band(birth_date: dt.date, *, today: dt.date | None = None) -> str:
    """Five-year band ("45-49"); 90 and over are one band, as HIPAA Safe Harbor asks."""
    today = today or timezone.localdate()
    age = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    if age >= 90:
        return "90+"
    low = max(age, 0) // 5 * 5
    return f"{low}-{low + 4}"


IDENTIFYING_FIELDS = (
    "mrn", "given_name", "family_name", "birth_date", "phone", "email",
    "address_line", "city", "postal_code",
)


def patient_deidentified_view(row: dict[str, Any], *, patient: Patient, pseudonym: str) -> dict[str, Any]:
    """A patient's API row with every direct identifier replaced: the pseudonym stands in
    for name and MRN, an age band for the birth date; contact fields are emptied."""
    view = dict(row)
    for field in IDENTIFYING_FIELDS:
        if field in view:
            view[field] = ""
    view["mrn"] = pseudonym
    view["family_name"] = pseudonym
    view["birth_date"] = None
    view["age_band"] = age_band(patient.birth_date)
    view["deidentified"] = True
    return view


def patient_rows_for_user(user: Any, patients: list[Patient], rows: Any) -> list[dict[str, Any]]:
    """Patient API rows as this user may see them: de-identified where their share says so."""
    pseudonyms = patient_pseudonyms_for_user(user)
    if not pseudonyms:
        return list(rows)
    return [
        patient_deidentified_view(row, patient=patient, pseudonym=pseudonyms[patient.pk])
        if patient.pk in pseudonyms else row
        for patient, row in zip(patients, rows, strict=True)
    ]


def _grant_scope_q(user: Any, *, column: str, patient_field: str, item_field: str) -> Q:
    """Everyone but a consultant: no restriction beyond ``patients_for_user``. A consultant:
    everything of a patient shared as a whole record, and only the chosen items (the grant's
    ``column``) of a patient shared by study."""
    if not _is_consultant(user):
        return Q()
    whole: set[int] = set()
    chosen: set[Any] = set()
    for patient_id, scope, items in share_grants_active(user).values_list("patient_id", "scope", column):
        if scope == ShareScope.RECORD:
            whole.add(patient_id)
        else:
            chosen.update(items or [])
    return Q(**{f"{patient_field}__in": whole}) | Q(**{f"{item_field}__in": chosen})


def study_scope_q(user: Any, *, patient_field: str = "patient_id", uid_field: str = "study_instance_uid") -> Q:
    """A filter over imaging studies that keeps what this user's grants share."""
    return _grant_scope_q(user, column="study_uids", patient_field=patient_field, item_field=uid_field)


def report_scope_q(user: Any, *, patient_field: str = "patient_id", report_field: str = "pk") -> Q:
    """A filter over reports (or what hangs off them) that keeps what this user's grants share."""
    return _grant_scope_q(user, column="report_ids", patient_field=patient_field, item_field=report_field)


def patient_access_ends_at(user: Any, patient_id: int) -> dt.datetime | None:
    """When this user's sight of the patient ends by itself (a grant's expiry); None if it
    does not (care team, own record, admin) or the user cannot see the patient now."""
    if not _is_consultant(user):
        return None
    ends = share_grants_active(user).filter(patient_id=patient_id).order_by("-expires_at").values_list(
        "expires_at", flat=True
    ).first()
    return ends


def share_grant_create(
    *, granted_by: Any, user: Any, patient: Patient, expires_at: dt.datetime, identifiable: bool,
    scope: str = ShareScope.RECORD, study_uids: list[str] | None = None, report_ids: list[int] | None = None,
    request: Any = None,
) -> ShareGrant:
    if expires_at <= timezone.now():
        raise ValidationFailed("The share must end in the future.", code="expiry_in_past", detail={"field": "expires_at"})
    if scope not in ShareScope.values:
        raise ValidationFailed("Unknown share scope.", code="invalid_scope", detail={"field": "scope"})
    grant = ShareGrant.objects.create(
        user=user, patient=patient, granted_by=granted_by, expires_at=expires_at, identifiable=identifiable,
        scope=scope, study_uids=list(study_uids or []), report_ids=list(report_ids or []),
    )
    audit_record(
        actor=granted_by, action=AuditAction.SHARE, object_type="share_grant", object_id=grant.pk,
        patient_id=patient.pk, request=request,
        detail={"grantee_id": user.pk, "scope": scope, "identifiable": identifiable},
    )
    return grant


def share_grant_end(*, grant: ShareGrant, actor: Any, request: Any = None) -> ShareGrant:
    """Revoke at once; open sockets of the grantee on this patient are closed after commit."""
    if grant.revoked_at is not None:
        return grant
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor, action=AuditAction.SHARE, object_type="share_grant", object_id=grant.pk,
        patient_id=grant.patient_id, request=request, detail={"revoked": True, "grantee_id": grant.user_id},
    )
    event_publish_on_commit(
        groups=[access_group(grant.user_id, grant.patient_id)], event_type="access.revoked",
        payload={"patient_id": grant.patient_id},
    )
    return grant

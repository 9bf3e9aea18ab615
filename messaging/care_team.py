"""A patient's conversation with their care team: one thread per patient on the shared
message service, between the patient's own account and the clinicians of their care team.

Only those two kinds of people take part: a consultant or an administrator who may see the
patient's record still does not read their private messages (403, audited). Clinicians join
when they open it, so a clinician who joins the team later sees the whole conversation, and
one who left it loses it (``thread_get_for_user`` checks the patient is still theirs).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cdss.accounts.models import Role
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import PermissionDenied
from messaging.models import Thread
from messaging.services import thread_create, thread_participant_add
from patients.models import Patient

SUBJECT_CARE_TEAM = "care_team"


def care_thread_may_join(user: Any, patient: Patient) -> bool:
    role = getattr(user, "role", None)
    if role == Role.PATIENT:
        return bool(patient.user_id == user.pk)
    if role == Role.CLINICIAN:
        return patient.care_team_id is not None and user.care_teams.filter(pk=patient.care_team_id).exists()
    return False


def care_thread_for_user(*, user: Any, patient: Patient, request: Any = None) -> Thread:
    """The patient's care-team thread (made on first use), with the caller in it.

    ``patient`` comes from ``patients.access`` (already visible to the user); this adds the
    narrower rule of who takes part in the conversation.
    """
    if not care_thread_may_join(user, patient):
        audit_record(actor=user, action=AuditAction.READ, object_type="care_thread", object_id=patient.pk,
                     patient_id=patient.pk, outcome=AuditOutcome.DENIED, request=request)
        raise PermissionDenied("Only the patient and their care team take part in this conversation.")
    with transaction.atomic():
        # The patient row serialises the first creation: two tabs opening it at once make one thread.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        thread = Thread.objects.filter(subject_type=SUBJECT_CARE_TEAM, subject_id=patient.pk, patient=patient).first()
        if thread is None:
            members = [patient.user] if patient.user_id else []
            thread = thread_create(subject_type=SUBJECT_CARE_TEAM, subject_id=patient.pk, patient_id=patient.pk,
                                   participants=members)
        thread_participant_add(thread=thread, user=user)
    return thread

"""Read-side queries over imaging studies, always starting from the user's patient scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_mark
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from imaging.models import ImagingSeries, ImagingStudy
from patients.access import patients_for_user, study_scope_q
from patients.models import Patient


def imaging_studies_for_user(user: Any) -> QuerySet[ImagingStudy]:
    return ImagingStudy.objects.filter(patient__in=patients_for_user(user)).filter(study_scope_q(user))


def imaging_study_uids_for_user(user: Any) -> dict[str, tuple[int, int]]:
    """StudyInstanceUID -> (ImagingStudy id, patient id) for every study this user may see."""
    rows = imaging_studies_for_user(user).values_list("study_instance_uid", "pk", "patient_id")
    return {uid: (pk, patient_id) for uid, pk, patient_id in rows}


def imaging_study_get_for_user(
    user: Any, study_instance_uid: str, *, request: Any = None, route: str = ""
) -> ImagingStudy:
    """The study if this user may see its patient; otherwise NotFound, and the denial is audited."""
    study = imaging_studies_for_user(user).filter(study_instance_uid=study_instance_uid).first()
    if study is None:
        # The denial names the study and patient when the study exists, so that an attempt to
        # reach another patient's images shows up in that patient's trail.
        existing = ImagingStudy.objects.filter(study_instance_uid=study_instance_uid).values_list("pk", "patient_id").first()
        audit_record(
            actor=user, action=AuditAction.READ, object_type="imaging_study",
            object_id=existing[0] if existing else None, patient_id=existing[1] if existing else None,
            outcome=AuditOutcome.DENIED, request=request, detail={"route": route} if route else None,
        )
        raise NotFound("Study not found.")
    read_audit_mark(object_type="imaging_study", object_id=study.pk, patient_id=study.patient_id)
    return study


def imaging_studies_of_patient(*, patient: Patient) -> QuerySet[ImagingStudy]:
    return (
        ImagingStudy.objects.filter(patient=patient)
        .prefetch_related(Prefetch("series", queryset=ImagingSeries.objects.order_by("series_number", "pk")))
        .order_by("-study_date", "-pk")
    )


def series_of_patient_check(*, patient: Patient, series_uids: list[str]) -> None:
    """Every series named is linked to this patient; otherwise NotFound (``series_not_found``)
    listing the others, as for a series that does not exist."""
    if not series_uids:
        return
    linked = set(
        ImagingSeries.objects.filter(study__patient=patient, series_instance_uid__in=series_uids)
        .values_list("series_instance_uid", flat=True)
    )
    foreign = sorted(set(series_uids) - linked)
    if foreign:
        raise NotFound("Series not found for this patient.", code="series_not_found", detail={"series": foreign})

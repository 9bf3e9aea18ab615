"""Registered EHRs and the people and patients they are matched to here."""

from __future__ import annotations

from typing import Any

from interop.models import EhrRegistration, EhrUserLink
from patients.access import patients_for_user
from patients.models import Patient


def registration_for_iss(iss: str | None) -> EhrRegistration | None:
    """The active registration of an EHR by its FHIR base URL (a trailing slash is ignored)."""
    if not iss:
        return None
    base = iss.rstrip("/")
    return EhrRegistration.objects.filter(active=True, iss__in=[base, base + "/"]).first()


def registration_for_jwt_issuer(issuer: str) -> EhrRegistration | None:
    return EhrRegistration.objects.filter(active=True, cds_jwt_issuer=issuer).first()


def local_user_for(registration: EhrRegistration, fhir_user: str | None) -> Any:
    """The local account an EHR user is mapped to, or None. ``fhirUser`` may come absolute
    (``https://ehr/fhir/Practitioner/1``) or relative; the link stores it relative."""
    if not fhir_user:
        return None
    relative = fhir_user
    base = registration.iss.rstrip("/") + "/"
    if relative.startswith(base):
        relative = relative[len(base):]
    link = EhrUserLink.objects.select_related("user").filter(registration=registration, fhir_user=relative).first()
    if link is None or not link.user.is_active:
        return None
    return link.user


def local_patient_for(registration: EhrRegistration, mrn: str | None) -> Patient | None:
    """The local record of an EHR patient: matched on the MRN under the registration's system."""
    if not mrn:
        return None
    return Patient.objects.filter(mrn=mrn).first()


def visible_patient(user: Any, patient: Patient | None) -> Patient | None:
    """The patient if this local user may see it under the usual access rules."""
    if user is None or patient is None:
        return None
    return patients_for_user(user).filter(pk=patient.pk).first()

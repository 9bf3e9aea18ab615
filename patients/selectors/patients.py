"""Read-side queries over patients, always starting from the user's scope."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from patients.access import patient_pseudonyms_for_user, patients_for_user
from patients.models import Patient
from patients.validation import past_date


def patient_search(*, user: Any, query: str = "", birth_date: str | None = None) -> QuerySet[Patient]:
    """Every term must match a name (contains) or the MRN (exactly); ``birth_date`` is YYYY-MM-DD."""
    patients = patients_for_user(user)
    if query.split() or birth_date:
        # Identifiers a user sees only as a pseudonym must not find the record either.
        patients = patients.exclude(pk__in=list(patient_pseudonyms_for_user(user)))
    for term in query.split():
        patients = patients.filter(
            Q(family_name__icontains=term) | Q(given_name__icontains=term) | Q(mrn__iexact=term)
        )
    if birth_date:
        patients = patients.filter(birth_date=past_date(birth_date, "birth_date"))
    return patients.order_by("-updated_at", "-id")

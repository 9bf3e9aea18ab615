"""Operations that change patient records; every one is audited. Split by entity."""

from patients.services.observations import observation_record, observation_record_batch
from patients.services.patients import patient_create, patient_update
from patients.services.records import (
    clinical_finding_create,
    genetic_finding_create,
    lifestyle_record_create,
)

__all__ = [
    "clinical_finding_create",
    "genetic_finding_create",
    "lifestyle_record_create",
    "observation_record",
    "observation_record_batch",
    "patient_create",
    "patient_update",
]

"""Read-side queries over patient records. Visibility comes from ``patients.access`` first."""

from patients.selectors.export import patient_fhir_export
from patients.selectors.observations import observation_latest, observation_list, observation_series
from patients.selectors.patients import patient_search
from patients.selectors.records import record_get, record_latest_values, record_list
from patients.selectors.summary import patient_summary

__all__ = [
    "observation_latest",
    "observation_list",
    "observation_series",
    "patient_fhir_export",
    "patient_search",
    "patient_summary",
    "record_get",
    "record_latest_values",
    "record_list",
]

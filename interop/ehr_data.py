"""Reading an EHR's FHIR R4 data (prefetch or fetched) into what this system's scores take.

Only what is needed is read, defensively: every resource is parsed with ``fhir.resources``
(R4B) first, so malformed input is refused as a bad request, never half-read. Laboratory
Observations are matched by the LOINC codes of the analyte catalogue (``patients.units``), in
any unit the catalogue accepts; a result in a unit it does not know is left out and named.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cdss.core.errors import ValidationFailed
from patients.units import UnknownAnalyte, UnknownUnit, analyte_by_code, analytes, unit_to_canonical

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")

# The liver laboratory panel asked of the EHR: every analyte the catalogue knows.
LIVER_LAB_CODES: tuple[str, ...] = tuple(a.loinc for a in analytes())

# Conditions that make a patient at high risk of HCC (EASL 2018, AASLD 2023 surveillance):
# cirrhosis of any cause and chronic hepatitis B.
CIRRHOSIS = {
    (SNOMED, "19943007"), (SNOMED, "420054005"), (SNOMED, "266468003"), (SNOMED, "31712002"),
    *((s, c) for s in ICD10 for c in ("K70.30", "K70.31", "K70.3", "K74.6", "K74.60", "K74.69", "K74.3", "K74.4", "K74.5")),
}
CHRONIC_HBV = {(SNOMED, "61977001"), *((s, c) for s in ICD10 for c in ("B18.0", "B18.1"))}
# Modalities that count as liver imaging for surveillance (ultrasound, CT, MRI).
SURVEILLANCE_MODALITIES = {"US", "CT", "MR"}


class InvalidFhirData(ValidationFailed):
    code = "invalid_fhir_data"


def resources_of(document: Any, *, path: str) -> list[dict[str, Any]]:
    """The resources of a prefetched or fetched item: a Bundle's entries or one resource.

    Each is validated against its R4 model; the raw dictionaries are returned so that reading
    stays plain. ``None`` (the EHR found nothing) is no resource.
    """
    if document is None:
        return []
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise InvalidFhirData(f"{path}: not a FHIR resource", detail={"field": path})
    if document["resourceType"] == "Bundle":
        raw = [entry.get("resource") for entry in document.get("entry") or [] if isinstance(entry, dict)]
        items = [r for r in raw if isinstance(r, dict)]
    else:
        items = [document]
    for index, item in enumerate(items):
        try:
            model = get_fhir_model_class(str(item.get("resourceType")))
            model.model_validate(item)
        except (KeyError, ValueError, ValidationError) as exc:
            raise InvalidFhirData(
                f"{path}: entry {index} is not a valid FHIR R4 resource", detail={"field": f"{path}[{index}]"}
            ) from exc
    if document["resourceType"] == "Bundle":
        # A search Bundle may carry an OperationOutcome beside its matches.
        items = [r for r in items if r.get("resourceType") != "OperationOutcome"]
    return items


def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in concept.get("coding") or [] if isinstance(c, dict)]


def _moment(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else dt.datetime.fromisoformat(text[:10])
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class EhrPatientData:
    """What one patient-view call knows about the patient from the EHR."""

    patient: dict[str, Any] | None = None
    observations: list[dict[str, Any]] = field(default_factory=list)  # score request entries, latest per code
    ignored: list[dict[str, Any]] = field(default_factory=list)  # results left out, and why
    at_risk_conditions: list[dict[str, Any]] = field(default_factory=list)
    liver_imaging_dates: list[dt.date] = field(default_factory=list)

    def mrn(self, system: str) -> str | None:
        for identifier in (self.patient or {}).get("identifier") or []:
            if isinstance(identifier, dict) and identifier.get("system") == system and identifier.get("value"):
                return str(identifier["value"])
        return None

    def age_and_sex(self, today: dt.date) -> dict[str, Any]:
        block: dict[str, Any] = {}
        birth = _moment((self.patient or {}).get("birthDate"))
        if birth is not None:
            b = birth.date()
            block["age_years"] = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
        if (self.patient or {}).get("gender") in ("male", "female"):
            block["sex"] = self.patient["gender"]  # type: ignore[index]
        return block


def _quantity_unit(quantity: dict[str, Any]) -> str:
    if quantity.get("system") == UCUM and isinstance(quantity.get("code"), str):
        return str(quantity["code"])
    return str(quantity.get("unit") or quantity.get("code") or "")


def lab_entries(observations: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest usable result of each catalogue analyte, as score request entries."""
    latest: dict[str, tuple[dt.datetime, dict[str, Any]]] = {}
    ignored: list[dict[str, Any]] = []
    for resource in observations:
        if resource.get("resourceType") != "Observation" or resource.get("status") in ("entered-in-error", "cancelled", "registered"):
            continue
        codes = [code for system, code in _codings(resource.get("code")) if system == LOINC]
        code = next((c for c in codes if c in LIVER_LAB_CODES), None)
        quantity = resource.get("valueQuantity")
        if code is None or not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
            continue
        moment = _moment(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or resource.get("issued"))
        if moment is None:
            ignored.append({"code": code, "reason": "no effective date"})
            continue
        unit = _quantity_unit(quantity)
        try:
            analyte_by_code(code)
            unit_to_canonical(code=code, value=float(quantity["value"]), unit=unit)
        except (UnknownAnalyte, UnknownUnit):
            ignored.append({"code": code, "reason": f"unit not accepted: {unit}"})
            continue
        entry: dict[str, Any] = {"code": code, "value": float(quantity["value"]), "unit": unit, "date": moment.isoformat()}
        if quantity.get("comparator") in ("<", "<=", ">=", ">"):
            entry["comparator"] = quantity["comparator"]
        if code not in latest or moment > latest[code][0]:
            latest[code] = (moment, entry)
    return [entry for _, entry in sorted(latest.values(), key=lambda pair: pair[1]["code"])], ignored


def _active(condition: dict[str, Any]) -> bool:
    status = [code for _, code in _codings(condition.get("clinicalStatus"))]
    verification = [code for _, code in _codings(condition.get("verificationStatus"))]
    if any(v in ("refuted", "entered-in-error") for v in verification):
        return False
    return not status or any(s in ("active", "recurrence", "relapse") for s in status)


def at_risk_conditions(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for condition in conditions:
        if condition.get("resourceType") != "Condition" or not _active(condition):
            continue
        codings = set(_codings(condition.get("code")))
        kind = "cirrhosis" if codings & CIRRHOSIS else "chronic_hbv" if codings & CHRONIC_HBV else None
        if kind:
            text = (condition.get("code") or {}).get("text") or kind.replace("_", " ")
            found.append({"kind": kind, "text": text, "onset": condition.get("onsetDateTime") or condition.get("recordedDate")})
    return found


def liver_imaging_dates(studies: list[dict[str, Any]]) -> list[dt.date]:
    dates = []
    for study in studies:
        if study.get("resourceType") != "ImagingStudy" or study.get("status") in ("cancelled", "entered-in-error"):
            continue
        modalities = {code for _, code in (_codings({"coding": study.get("modality") or []}))}
        for series in study.get("series") or []:
            modalities |= {code for _, code in _codings({"coding": [series.get("modality") or {}]})}
        moment = _moment(study.get("started"))
        if moment is not None and modalities & SURVEILLANCE_MODALITIES:
            dates.append(moment.date())
    return dates


def ehr_patient_data(*, patient: Any, observations: Any, conditions: Any, imaging: Any) -> EhrPatientData:
    patients = resources_of(patient, path="prefetch.patient")
    labs, ignored = lab_entries(resources_of(observations, path="prefetch.liverLabs"))
    return EhrPatientData(
        patient=patients[0] if patients else None,
        observations=labs,
        ignored=ignored,
        at_risk_conditions=at_risk_conditions(resources_of(conditions, path="prefetch.conditions")),
        liver_imaging_dates=liver_imaging_dates(resources_of(imaging, path="prefetch.imaging")),
    )

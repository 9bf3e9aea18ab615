"""FHIR R4 mapping of patient records, both ways, on the ``fhir.resources`` R4B models.

Export: a ``collection`` Bundle with the Patient and one Observation per stored record.
- Laboratory results: LOINC ``code``, ``valueQuantity`` in the analyte's canonical UCUM unit,
  ``effectiveDateTime``, ``referenceRange`` (the laboratory's, or the catalogue's generic adult
  range marked as such), the value and unit as entered in an extension; a censored result
  ("<5") carries its ``comparator`` on both quantities.
- Genetic findings: LOINC 69548-6 "Genetic variant assessment" with the genomics-reporting
  components (48018-6 gene, 81252-9 dbSNP variant, 48004-6 / 48005-3 / 81290-9 HGVS,
  53034-5 allelic state) and a local genotype component.
- Lifestyle and clinical findings: one Observation per dated record, each field a component;
  LOINC/SNOMED where a standard code states the same thing (smoking status, height, weight,
  BMI), local codes (``CDSS_CODES``) for the rest.

Import reads the same shapes back (and plain laboratory Observations from other systems) into
the dictionaries the record services validate, so every rule and error code is shared with
the REST API. Mapping errors raise ``ValidationFailed`` subclasses naming the field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from pydantic import ValidationError

from cdss.core.errors import CdssError
from patients.errors import (
    InvalidChoice,
    InvalidFhir,
    InvalidField,
    MissingField,
    PatientMismatch,
    UnknownAnalyte,
    UnknownUnit,
)
from patients.models import (
    ClinicalFinding,
    GeneticFinding,
    LabObservation,
    LifestyleRecord,
    Patient,
    Zygosity,
)
from patients.record_kinds import FINDINGS, GENETICS, LIFESTYLE, RecordKind
from patients.units import analyte_by_code, unit_from_canonical, unit_to_canonical

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
DBSNP = "http://www.ncbi.nlm.nih.gov/projects/SNP"
HGVS = "http://varnomen.hgvs.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
# Local namespace for what no standard code says exactly; a deployment may map these onward.
CDSS_NS = "urn:cdss:fhir"
CDSS_CODES = f"{CDSS_NS}:codes"
MRN_SYSTEM = f"{CDSS_NS}:mrn"
ENTERED_QUANTITY_URL = f"{CDSS_NS}:entered-quantity"
GENERIC_RANGE_CODE = "catalogue-generic-range"

GENETIC_ASSESSMENT = ("69548-6", "Genetic variant assessment")
GENE_STUDIED = ("48018-6", "Gene studied [ID]")
DISCRETE_VARIANT = ("81252-9", "Discrete genetic variant")
HGVS_CODES = {"c": ("48004-6", "DNA change (c.HGVS)"), "p": ("48005-3", "Amino acid change (pHGVS)"), "g": ("81290-9", "Genomic DNA change (gHGVS)")}
ALLELIC_STATE = ("53034-5", "Allelic state")
ALLELIC_STATES = {
    Zygosity.HOMOZYGOUS.value: ("LA6705-3", "Homozygous"),
    Zygosity.HETEROZYGOUS.value: ("LA6706-1", "Heterozygous"),
    Zygosity.HEMIZYGOUS.value: ("LA6707-9", "Hemizygous"),
}
PRESENT, ABSENT = ("LA9633-4", "Present"), ("LA9634-2", "Absent")
LIFESTYLE_CODE = ("lifestyle-assessment", "Lifestyle assessment")
FINDINGS_CODE = ("clinical-assessment", "Clinical assessment for liver scores")

ValueType = Literal["quantity", "concept", "boolean", "integer"]


@dataclass(frozen=True)
class ComponentSpec:
    """One record field as an Observation component (or a stand-alone Observation)."""

    field: str
    system: str
    code: str
    display: str
    value_type: ValueType
    unit: str | None = None  # a fixed UCUM unit for quantities
    unit_field: str | None = None  # or the field holding the unit as entered
    # For coded values: stored value -> (system, code, display); default a local coding.
    concepts: Mapping[str, tuple[str, str, str]] | None = None
    whole: bool = False  # a quantity stored as a whole number

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


def _local(field: str, code: str, display: str, value_type: ValueType, **extra: Any) -> ComponentSpec:
    return ComponentSpec(field=field, system=CDSS_CODES, code=code, display=display, value_type=value_type, **extra)


LIFESTYLE_COMPONENTS = (
    _local("alcohol_value", "alcohol-intake", "Alcohol intake", "quantity", unit_field="alcohol_unit"),
    ComponentSpec(
        "smoking_status", LOINC, "72166-2", "Tobacco smoking status", "concept",
        concepts={
            "never": (SNOMED, "266919005", "Never smoked tobacco"),
            "former": (SNOMED, "8517006", "Ex-smoker"),
            "current": (SNOMED, "77176002", "Smoker"),
        },
    ),
    _local("pack_years", "pack-years", "Tobacco exposure (pack-years)", "quantity", unit="{pack-years}"),
    ComponentSpec("height_cm", LOINC, "8302-2", "Body height", "quantity", unit="cm"),
    ComponentSpec("weight_kg", LOINC, "29463-7", "Body weight", "quantity", unit="kg"),
    ComponentSpec("bmi", LOINC, "39156-5", "Body mass index (BMI) [Ratio]", "quantity", unit="kg/m2"),
    _local("diabetes", "diabetes", "Diabetes mellitus status", "concept"),
    _local("activity_minutes_per_week", "activity-minutes-per-week", "Moderate-to-vigorous physical activity", "quantity", unit="min/wk", whole=True),
)
FINDING_COMPONENTS = (
    _local("ascites", "ascites", "Ascites", "concept"),
    _local("encephalopathy", "encephalopathy", "Hepatic encephalopathy grade", "concept"),
    _local("ecog_ps", "ecog-ps", "ECOG performance status", "integer"),
    _local("dialysis_twice_past_week", "dialysis-twice-past-week", "Dialysis twice or more in the past week", "boolean"),
    _local("hbv_status", "hbv-status", "Hepatitis B status", "concept"),
    _local("hcv_status", "hcv-status", "Hepatitis C status", "concept"),
    _local("known_cirrhosis", "known-cirrhosis", "Known cirrhosis", "boolean"),
    _local("cholestatic_disease", "cholestatic-disease", "Cholestatic liver disease", "boolean"),
    _local("tumour_count", "liver-tumour-count", "Number of liver tumours", "integer"),
    _local("tumour_largest_diameter_mm", "liver-tumour-largest-diameter", "Largest liver tumour diameter", "quantity", unit="mm"),
    _local("macrovascular_invasion", "macrovascular-invasion", "Macrovascular (portal) invasion by liver tumour", "boolean"),
    _local("extrahepatic_spread", "extrahepatic-spread", "Extrahepatic spread of liver cancer", "boolean"),
    _local("clinically_significant_portal_hypertension", "csph", "Clinically significant portal hypertension", "boolean"),
    _local("transplant_candidate", "transplant-candidate", "Liver transplant candidate", "boolean"),
)


def _uuid_url(kind: str, pk: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{CDSS_NS}:{kind}/{pk}')}"


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _category(code: str) -> list[dict[str, Any]]:
    return [_concept(OBSERVATION_CATEGORY, code)]


def _quantity(value: float, unit: str, *, ucum: bool = True, comparator: str = "") -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if comparator:
        quantity["comparator"] = comparator
    if unit:
        quantity["unit"] = unit
        if ucum:
            quantity.update(system=UCUM, code=unit)
    return quantity


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------


def patient_resource(patient: Patient) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "identifier": [
            {
                "use": "usual",
                "type": _concept(IDENTIFIER_TYPE, "MR", "Medical record number"),
                "system": MRN_SYSTEM,
                "value": patient.mrn,
            }
        ],
        "active": patient.status != "inactive",
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": patient.sex,
        "birthDate": patient.birth_date.isoformat(),
    }
    if patient.status == "deceased":
        resource["deceasedBoolean"] = True
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", patient.phone), ("email", patient.email))
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    address = {
        key: value
        for key, value in (
            ("line", [patient.address_line] if patient.address_line else None),
            ("city", patient.city),
            ("postalCode", patient.postal_code),
            ("country", patient.country),
        )
        if value
    }
    if address:
        resource["address"] = [address]
    return resource


def lab_observation_resource(observation: LabObservation, *, subject: str) -> dict[str, Any]:
    analyte = analyte_by_code(observation.code)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"lab-{observation.pk}",
        "extension": [{
            "url": ENTERED_QUANTITY_URL,
            "valueQuantity": _quantity(observation.value, observation.unit, ucum=False, comparator=observation.comparator),
        }],
        "status": "final",
        "category": _category("laboratory"),
        "code": {**_concept(LOINC, analyte.loinc, analyte.display_name), "text": analyte.display_name},
        "subject": {"reference": subject},
        "effectiveDateTime": _instant(observation.observed_at),
        "valueQuantity": _quantity(
            observation.value_canonical, observation.unit_canonical, comparator=observation.comparator
        ),
    }
    if observation.specimen:
        resource["specimen"] = {"display": observation.specimen}
    if observation.reference_low is not None or observation.reference_high is not None:
        reference: dict[str, Any] = {}
        for key, bound in (("low", observation.reference_low), ("high", observation.reference_high)):
            if bound is not None:
                canonical = unit_to_canonical(code=observation.code, value=bound, unit=observation.unit)
                reference[key] = _quantity(canonical.value, canonical.unit)
        resource["referenceRange"] = [reference]
    else:
        resource["referenceRange"] = [
            {
                "low": _quantity(analyte.reference_low, analyte.canonical_unit),
                "high": _quantity(analyte.reference_high, analyte.canonical_unit),
                "type": _concept(CDSS_CODES, GENERIC_RANGE_CODE, "Generic adult range (not the laboratory's)"),
            }
        ]
    return resource


def _component_value(spec: ComponentSpec, record: Any) -> dict[str, Any] | None:
    value = getattr(record, spec.field)
    if value is None or value == "":
        return None
    if spec.value_type == "quantity":
        if spec.unit_field:
            return {"valueQuantity": _quantity(value, getattr(record, spec.unit_field), ucum=False)}
        return {"valueQuantity": _quantity(value, spec.unit or "")}
    if spec.value_type == "concept":
        system, code, display = (spec.concepts or {}).get(value, (f"{CDSS_NS}:{spec.field}", value, ""))
        return {"valueCodeableConcept": _concept(system, code, display)}
    if spec.value_type == "boolean":
        return {"valueBoolean": bool(value)}
    return {"valueInteger": int(value)}


def _components(specs: Iterable[ComponentSpec], record: Any) -> list[dict[str, Any]]:
    components = []
    for spec in specs:
        value = _component_value(spec, record)
        if value is not None:
            components.append({"code": {"coding": [spec.coding()], "text": spec.display}, **value})
    return components


def _assessment_resource(
    record: Any, *, id_prefix: str, category: str, code: tuple[str, str], date: dt.date,
    specs: Iterable[ComponentSpec], subject: str,
) -> dict[str, Any]:
    """One dated record (lifestyle or clinical assessment) as an Observation, a field a component."""
    return {
        "resourceType": "Observation",
        "id": f"{id_prefix}-{record.pk}",
        "status": "final",
        "category": _category(category),
        "code": _concept(CDSS_CODES, *code),
        "subject": {"reference": subject},
        "effectiveDateTime": date.isoformat(),
        "component": _components(specs, record),
    }


def lifestyle_resource(record: LifestyleRecord, *, subject: str) -> dict[str, Any]:
    return _assessment_resource(
        record, id_prefix="lifestyle", category="social-history", code=LIFESTYLE_CODE, date=record.recorded_on,
        specs=LIFESTYLE_COMPONENTS, subject=subject,
    )


def finding_resource(record: ClinicalFinding, *, subject: str) -> dict[str, Any]:
    return _assessment_resource(
        record, id_prefix="finding", category="exam", code=FINDINGS_CODE, date=record.assessed_on,
        specs=FINDING_COMPONENTS, subject=subject,
    )


def _hgvs_kind(hgvs: str) -> str:
    description = hgvs.rsplit(":", 1)[-1]
    return description[0] if description[:1] in HGVS_CODES else "c"


def genetic_resource(record: GeneticFinding, *, subject: str) -> dict[str, Any]:
    components: list[dict[str, Any]] = [
        {"code": _concept(LOINC, *GENE_STUDIED), "valueCodeableConcept": {"text": record.gene}}
    ]
    if record.rsid:
        components.append(
            {"code": _concept(LOINC, *DISCRETE_VARIANT), "valueCodeableConcept": _concept(DBSNP, record.rsid)}
        )
    if record.hgvs:
        components.append(
            {
                "code": _concept(LOINC, *HGVS_CODES[_hgvs_kind(record.hgvs)]),
                "valueCodeableConcept": _concept(HGVS, record.hgvs),
            }
        )
    if record.zygosity in ALLELIC_STATES:
        components.append(
            {"code": _concept(LOINC, *ALLELIC_STATE), "valueCodeableConcept": _concept(LOINC, *ALLELIC_STATES[record.zygosity])}
        )
    if record.genotype:
        components.append({"code": _concept(CDSS_CODES, "genotype", "Genotype (alleles)"), "valueString": record.genotype})
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"genetic-{record.pk}",
        "status": "final",
        "category": _category("laboratory"),
        "code": _concept(LOINC, *GENETIC_ASSESSMENT),
        "subject": {"reference": subject},
        "effectiveDateTime": record.reported_on.isoformat(),
        "valueCodeableConcept": _concept(LOINC, *(ABSENT if record.zygosity == Zygosity.ABSENT else PRESENT)),
        "component": components,
    }
    if record.assay:
        resource["method"] = {"text": record.assay}
    return resource


def patient_bundle(
    *,
    patient: Patient,
    observations: Iterable[LabObservation],
    genetics: Iterable[GeneticFinding],
    lifestyle: Iterable[LifestyleRecord],
    findings: Iterable[ClinicalFinding],
    timestamp: dt.datetime,
) -> Bundle:
    """The whole record as a validated FHIR R4 ``collection`` Bundle."""
    subject = _uuid_url("Patient", patient.pk)
    entries = [{"fullUrl": subject, "resource": patient_resource(patient)}]
    entries += [{"fullUrl": _uuid_url("lab", o.pk), "resource": lab_observation_resource(o, subject=subject)} for o in observations]
    entries += [{"fullUrl": _uuid_url("genetic", g.pk), "resource": genetic_resource(g, subject=subject)} for g in genetics]
    entries += [{"fullUrl": _uuid_url("lifestyle", r.pk), "resource": lifestyle_resource(r, subject=subject)} for r in lifestyle]
    entries += [{"fullUrl": _uuid_url("finding", f.pk), "resource": finding_resource(f, subject=subject)} for f in findings]
    return Bundle.model_validate(
        {"resourceType": "Bundle", "type": "collection", "timestamp": _instant(timestamp), "entry": entries}
    )


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedEntry:
    """A Bundle entry turned into the input of one record service."""

    row: int
    kind: str  # "observation" or a RecordKind name
    data: dict[str, Any]


def bundle_parse(document: Any) -> Bundle:
    """Structure and types through the FHIR model library; errors name paths, never values."""
    if not isinstance(document, Mapping):
        raise InvalidFhir("The document is not a JSON object.", detail={"errors": []})
    if document.get("resourceType") != "Bundle":
        raise InvalidFhir("The document is not a FHIR Bundle.", detail={"errors": [{"loc": "resourceType"}]})
    try:
        return Bundle.model_validate(document)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(part) for part in error["loc"]), "type": error["type"]}
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise InvalidFhir(f"Not a valid FHIR R4 Bundle ({len(errors)} errors).", detail={"errors": errors[:100]}) from None


def _codings(concept: Any) -> list[Any]:
    return list(getattr(concept, "coding", None) or [])


def _has_coding(concept: Any, system: str, code: str) -> bool:
    return any(c.system == system and c.code == code for c in _codings(concept))


def _float(value: Decimal | None, path: str) -> float:
    if value is None:
        raise MissingField(f"{path}: missing.", detail={"field": path})
    return float(value)


def _quantity_unit(quantity: Any) -> str:
    """The unit's code when it is UCUM, else its human-readable spelling."""
    if quantity.system == UCUM and quantity.code:
        return str(quantity.code)
    return str(quantity.unit or quantity.code or "")


def bundle_patient_check(bundle: Bundle, *, patient: Patient) -> None:
    """A Bundle made for another patient must not land in this record (matched on MRN)."""
    for index, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        if not isinstance(resource, FhirPatient):
            continue
        for identifier in resource.identifier or []:
            is_mrn = identifier.system == MRN_SYSTEM or _has_coding(identifier.type, IDENTIFIER_TYPE, "MR")
            if is_mrn and identifier.value and identifier.value != patient.mrn:
                raise PatientMismatch(
                    "The Bundle's Patient has a different medical record number.",
                    detail={"row": index, "field": f"entry[{index}].resource.identifier"},
                )


def _effective(resource: Observation, path: str) -> Any:
    value = resource.effectiveDateTime or resource.effectiveInstant
    if value is None and resource.effectivePeriod is not None:
        value = resource.effectivePeriod.start
    if value is None:
        raise MissingField(f"{path}.effectiveDateTime: missing.", detail={"field": "effectiveDateTime"})
    return value


def _lab_data(resource: Observation, code: str) -> dict[str, Any]:
    quantity = resource.valueQuantity
    if quantity is None:
        raise MissingField("valueQuantity: a laboratory result needs a quantity.", detail={"field": "valueQuantity"})
    value, unit = _float(quantity.value, "valueQuantity.value"), _quantity_unit(quantity)
    comparator = str(quantity.comparator or "")
    for extension in resource.extension or []:
        if extension.url == ENTERED_QUANTITY_URL and extension.valueQuantity is not None:
            entered = extension.valueQuantity
            entered_value, entered_unit = _float(entered.value, "extension.valueQuantity.value"), _quantity_unit(entered)
            # The canonical quantity must agree with the one as entered, or one of them is wrong.
            expected = unit_to_canonical(code=code, value=entered_value, unit=entered_unit).value
            stated = unit_to_canonical(code=code, value=value, unit=unit).value
            if abs(expected - stated) > 1e-9 * max(1.0, abs(stated)) or str(entered.comparator or "") != comparator:
                raise InvalidField(
                    "valueQuantity: does not match the value as entered.", detail={"field": "valueQuantity"}
                )
            value, unit = entered_value, entered_unit
    # A coded (UCUM) unit from another system is taken as sent: no "did you mean" hint applies.
    data: dict[str, Any] = {
        "code": code, "value": value, "unit": unit, "observed_at": _effective(resource, ""), "unit_confirmed": True,
    }
    if comparator:
        data["comparator"] = comparator
    if resource.specimen is not None and resource.specimen.display:
        data["specimen"] = str(resource.specimen.display)
    for reference in resource.referenceRange or []:
        if _has_coding(reference.type, CDSS_CODES, GENERIC_RANGE_CODE):
            continue
        for key in ("low", "high"):
            bound = getattr(reference, key)
            if bound is None or bound.value is None:
                continue
            bound_unit = _quantity_unit(bound) or unit
            canonical = unit_to_canonical(code=code, value=float(bound.value), unit=bound_unit)
            data[f"reference_{key}"] = unit_from_canonical(code=code, value=canonical.value, unit=unit)
        break
    return data


def _component_read(spec: ComponentSpec, component: Any, data: dict[str, Any]) -> None:
    where = spec.field
    if spec.value_type == "quantity":
        quantity = component.valueQuantity
        if quantity is None:
            raise InvalidField(f"{where}: expected a quantity.", detail={"field": where})
        number = _float(quantity.value, where)
        data[spec.field] = int(number) if spec.whole and number.is_integer() else number
        unit = _quantity_unit(quantity)
        if spec.unit_field:
            data[spec.unit_field] = unit
        elif unit != spec.unit:
            raise UnknownUnit(
                f"{where}: unit must be {spec.unit}.", detail={"field": where, "unit": unit, "accepted": [spec.unit]}
            )
    elif spec.value_type == "concept":
        codings = _codings(component.valueCodeableConcept)
        reverse = {(system, code): value for value, (system, code, _) in (spec.concepts or {}).items()}
        for coding in codings:
            if (coding.system, coding.code) in reverse:
                data[spec.field] = reverse[(coding.system, coding.code)]
                return
            if spec.concepts is None and coding.system == f"{CDSS_NS}:{spec.field}":
                data[spec.field] = coding.code
                return
        allowed = [code for _, code, _ in (spec.concepts or {}).values()] or None
        raise InvalidChoice(f"{where}: unknown coded value.", detail={"field": where, "allowed": allowed})
    elif spec.value_type == "boolean":
        if component.valueBoolean is None:
            raise InvalidField(f"{where}: expected true or false.", detail={"field": where})
        data[spec.field] = bool(component.valueBoolean)
    else:
        if component.valueInteger is None:
            raise InvalidField(f"{where}: expected a whole number.", detail={"field": where})
        data[spec.field] = int(component.valueInteger)


def _spec_for(concept: Any, specs: Iterable[ComponentSpec]) -> ComponentSpec | None:
    for spec in specs:
        if _has_coding(concept, spec.system, spec.code):
            return spec
    return None


def _components_data(resource: Observation, specs: tuple[ComponentSpec, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for index, component in enumerate(resource.component or []):
        spec = _spec_for(component.code, specs)
        if spec is None:
            raise InvalidField(
                f"component[{index}]: unknown component code.", detail={"field": f"component[{index}].code"}
            )
        _component_read(spec, component, data)
    return data


def _component_code(component: Any, loinc: tuple[str, str]) -> bool:
    return _has_coding(component.code, LOINC, loinc[0])


def _genetic_data(resource: Observation) -> dict[str, Any]:
    data: dict[str, Any] = {"reported_on": _effective(resource, "")}
    if resource.method is not None and resource.method.text:
        data["assay"] = str(resource.method.text)
    if _has_coding(resource.valueCodeableConcept, LOINC, ABSENT[0]):
        data["zygosity"] = Zygosity.ABSENT.value
    hgvs_codes = {code for code, _ in HGVS_CODES.values()}
    for index, component in enumerate(resource.component or []):
        concept = component.valueCodeableConcept
        if _component_code(component, GENE_STUDIED):
            gene = (concept.text if concept is not None else None) or next(
                (c.display or c.code for c in _codings(concept)), None
            )
            data["gene"] = gene
        elif _component_code(component, DISCRETE_VARIANT):
            data["rsid"] = next((c.code for c in _codings(concept) if c.system == DBSNP), None)
        elif any(_has_coding(component.code, LOINC, code) for code in hgvs_codes):
            data["hgvs"] = next((c.code for c in _codings(concept) if c.system == HGVS), None)
        elif _component_code(component, ALLELIC_STATE):
            states = {code: value for value, (code, _) in ALLELIC_STATES.items()}
            data["zygosity"] = next((states[c.code] for c in _codings(concept) if c.code in states), None)
        elif _has_coding(component.code, CDSS_CODES, "genotype"):
            data["genotype"] = component.valueString
        else:
            raise InvalidField(
                f"component[{index}]: unknown component code.", detail={"field": f"component[{index}].code"}
            )
    return data


def observation_map(resource: Observation) -> tuple[str, dict[str, Any]]:
    """(kind, input data) for one Observation; ``UnknownAnalyte`` if nothing here reads its code."""
    code = resource.code
    if _has_coding(code, LOINC, GENETIC_ASSESSMENT[0]):
        return GENETICS.name, _genetic_data(resource)
    if _has_coding(code, CDSS_CODES, LIFESTYLE_CODE[0]):
        data = _components_data(resource, LIFESTYLE_COMPONENTS)
        return LIFESTYLE.name, {"recorded_on": _effective(resource, ""), **data}
    if _has_coding(code, CDSS_CODES, FINDINGS_CODE[0]):
        data = _components_data(resource, FINDING_COMPONENTS)
        return FINDINGS.name, {"assessed_on": _effective(resource, ""), **data}
    # A single lifestyle or finding item sent as its own Observation (e.g. smoking status).
    for kind, specs, date_field in (
        (LIFESTYLE, LIFESTYLE_COMPONENTS, "recorded_on"),
        (FINDINGS, FINDING_COMPONENTS, "assessed_on"),
    ):
        spec = _spec_for(code, specs)
        if spec is not None:
            data = {date_field: _effective(resource, "")}
            _component_read(spec, resource, data)
            return kind.name, data
    loinc_codes = [c.code for c in _codings(code) if c.system == LOINC and c.code]
    for loinc in loinc_codes:
        try:
            analyte_by_code(loinc)
        except UnknownAnalyte:
            continue
        return "observation", _lab_data(resource, loinc)
    shown = loinc_codes[0] if loinc_codes else next((c.code for c in _codings(code)), None)
    raise UnknownAnalyte(f"Unknown analyte code {shown!r}.", detail={"code": shown, "field": "code"})


# Observations in these states are not results: they are skipped, not imported.
SKIPPED_STATUSES = frozenset({"entered-in-error", "cancelled"})
ACCEPTED_STATUSES = frozenset({"final", "amended", "corrected"})


def bundle_entries_map(
    bundle: Bundle, *, patient: Patient
) -> tuple[list[MappedEntry], list[tuple[int, CdssError]], dict[str, int]]:
    """Every entry mapped or its error; resources that carry no results are counted as skipped."""
    bundle_patient_check(bundle, patient=patient)
    mapped: list[MappedEntry] = []
    errors: list[tuple[int, CdssError]] = []
    skipped: dict[str, int] = {}
    for index, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        if isinstance(resource, FhirPatient):
            continue
        if not isinstance(resource, Observation):
            name = type(resource).__name__ if resource is not None else "empty"
            skipped[name] = skipped.get(name, 0) + 1
            continue
        if resource.status in SKIPPED_STATUSES:
            skipped[f"Observation ({resource.status})"] = skipped.get(f"Observation ({resource.status})", 0) + 1
            continue
        try:
            if resource.status not in ACCEPTED_STATUSES:
                raise InvalidField(
                    f"status: {resource.status!r} is not a final result.", detail={"field": "status"}
                )
            kind, data = observation_map(resource)
        except CdssError as exc:
            errors.append((index, exc))
            continue
        mapped.append(MappedEntry(row=index, kind=kind, data=data))
    return mapped, errors, skipped


RECORD_KIND_BY_NAME: dict[str, RecordKind[Any]] = {kind.name: kind for kind in (GENETICS, LIFESTYLE, FINDINGS)}

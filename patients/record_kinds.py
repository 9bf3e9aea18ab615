"""The kinds of dated record (genetic findings, lifestyle records, clinical findings): their
fields, how each is parsed and checked as a whole, and what makes two records the same.

Pure validation: storing, auditing and events are ``patients.services.records``; the CSV/FHIR
readers in ``patients.interchange`` use these kinds too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import models

from patients.errors import EmptyRecord, ImplausibleValue, InconsistentValues, MissingField
from patients.models import (
    AlcoholUnit,
    Ascites,
    ClinicalFinding,
    DiabetesStatus,
    Encephalopathy,
    GeneticFinding,
    HbvStatus,
    HcvStatus,
    LifestyleRecord,
    SmokingStatus,
    Zygosity,
)
from patients.validation import Parser, boolean, choice, fields_parse, integer, number, past_date, text

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class RecordKind(Generic[M]):
    """How one kind of dated record is read from input, checked as a whole and stored."""

    name: str
    model: type[M]
    date_field: str
    parsers: Mapping[str, Parser]
    required: tuple[str, ...]
    # Checks across fields on the complete new state; may fill derived fields. ``sent`` names the
    # fields this request supplied.
    check: Callable[[dict[str, Any], set[str]], dict[str, Any]]
    derived: tuple[str, ...] = field(default=())

    @property
    def fields(self) -> tuple[str, ...]:
        """Every stored clinical field, supplied or derived (what a duplicate compares)."""
        return (*self.parsers, *self.derived)


def _normalise_alleles(value: str) -> str:
    return value.upper()


def _genotype(value: Any, path: str) -> str:
    return _normalise_alleles(text(32, pattern=r"[ACGTNacgtn-]+/[ACGTNacgtn-]+", hint="genotype such as C/G")(value, path))


GENETIC_FIELDS: dict[str, Parser] = {
    "gene": text(32, pattern=r"[A-Za-z0-9][A-Za-z0-9-]*", hint="HGNC gene symbol"),
    "rsid": text(32, pattern=r"rs[0-9]{1,12}", hint="dbSNP rsID such as rs738409"),
    "hgvs": text(255, pattern=r"(\S+:)?[cgmnrp]\.\S+", hint="HGVS expression such as NM_025225.3:c.444C>G"),
    "genotype": _genotype,
    "zygosity": choice(Zygosity),
    "assay": text(200),
    "reported_on": past_date,
}


def _genetic_check(state: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    state["gene"] = state["gene"].upper()
    if not state.get("rsid") and not state.get("hgvs"):
        raise MissingField("rsid: an rsID or an HGVS expression is required.", detail={"field": "rsid"})
    genotype, zygosity = state.get("genotype"), state.get("zygosity")
    if not genotype and not zygosity:
        raise MissingField("zygosity: a genotype or a zygosity is required.", detail={"field": "zygosity"})
    if genotype and zygosity in (Zygosity.HOMOZYGOUS, Zygosity.HETEROZYGOUS):
        first, second = genotype.split("/")
        if (first == second) != (zygosity == Zygosity.HOMOZYGOUS):
            raise InconsistentValues(
                f"zygosity: {zygosity} contradicts genotype {genotype}.", detail={"field": "zygosity"}
            )
    for name in ("rsid", "hgvs", "genotype", "assay"):
        state[name] = state.get(name) or ""
    return state


# UK alcohol unit: 8 g of ethanol.
ALCOHOL_TO_GRAMS_PER_DAY = {AlcoholUnit.GRAMS_PER_DAY.value: 1.0, AlcoholUnit.UNITS_PER_WEEK.value: 8.0 / 7.0}
ALCOHOL_MAX_GRAMS_PER_DAY = 1000.0
BMI_TOLERANCE = 0.5

LIFESTYLE_FIELDS: dict[str, Parser] = {
    "recorded_on": past_date,
    "alcohol_value": number(0, 10_000),
    "alcohol_unit": choice(AlcoholUnit),
    "smoking_status": choice(SmokingStatus),
    "pack_years": number(0, 300),
    "height_cm": number(30, 275),
    "weight_kg": number(0.5, 650),
    "bmi": number(5, 150),
    "diabetes": choice(DiabetesStatus),
    "activity_minutes_per_week": integer(0, 7 * 24 * 60),
}


def bmi_compute(*, height_cm: float, weight_kg: float) -> float:
    return round(weight_kg / (height_cm / 100.0) ** 2, 1)


def _lifestyle_check(state: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    value, unit = state.get("alcohol_value"), state.get("alcohol_unit") or ""
    if (value is None) != (not unit):
        missing = "alcohol_unit" if value is not None else "alcohol_value"
        raise MissingField(f"{missing}: alcohol needs both a value and a unit.", detail={"field": missing})
    state["alcohol_unit"] = unit
    state["alcohol_g_per_day"] = None if value is None else value * ALCOHOL_TO_GRAMS_PER_DAY[unit]
    if state["alcohol_g_per_day"] is not None and state["alcohol_g_per_day"] > ALCOHOL_MAX_GRAMS_PER_DAY:
        raise ImplausibleValue(
            f"alcohol_value: more than {ALCOHOL_MAX_GRAMS_PER_DAY:g} g/day.",
            detail={"field": "alcohol_value", "max_g_per_day": ALCOHOL_MAX_GRAMS_PER_DAY},
        )
    if state.get("smoking_status") == SmokingStatus.NEVER and (state.get("pack_years") or 0) > 0:
        raise InconsistentValues("pack_years: a never-smoker has no pack-years.", detail={"field": "pack_years"})
    height, weight = state.get("height_cm"), state.get("weight_kg")
    if height is not None and weight is not None:
        computed = bmi_compute(height_cm=height, weight_kg=weight)
        if "bmi" in sent and state.get("bmi") is not None and abs(state["bmi"] - computed) > BMI_TOLERANCE:
            raise InconsistentValues(
                f"bmi: {state['bmi']:g} does not match height and weight ({computed:g}).",
                detail={"field": "bmi", "computed": computed},
            )
        state["bmi"] = computed
    if all(state.get(name) in (None, "") for name in LIFESTYLE_FIELDS if name != "recorded_on"):
        raise EmptyRecord("The record states nothing.", detail={"field": None})
    return state


FINDING_FIELDS: dict[str, Parser] = {
    "assessed_on": past_date,
    "ascites": choice(Ascites),
    "encephalopathy": choice(Encephalopathy),
    "ecog_ps": integer(0, 4),
    "dialysis_twice_past_week": boolean,
    "hbv_status": choice(HbvStatus),
    "hcv_status": choice(HcvStatus),
    "known_cirrhosis": boolean,
    "cholestatic_disease": boolean,
    "tumour_count": integer(0, 100),
    "tumour_largest_diameter_mm": number(0, 400, low_inclusive=False),
    "macrovascular_invasion": boolean,
    "extrahepatic_spread": boolean,
    "clinically_significant_portal_hypertension": boolean,
    "transplant_candidate": boolean,
}


def _finding_check(state: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    if all(state.get(name) is None for name in FINDING_FIELDS if name != "assessed_on"):
        raise EmptyRecord("The assessment states nothing.", detail={"field": None})
    # The tumour burden (BCLC 2022): a largest diameter needs at least one tumour.
    if state.get("tumour_count") == 0 and state.get("tumour_largest_diameter_mm") is not None:
        raise InconsistentValues(
            "tumour_largest_diameter_mm: given with tumour_count 0.", detail={"field": "tumour_largest_diameter_mm"}
        )
    return state


GENETICS: RecordKind[GeneticFinding] = RecordKind(
    name="genetic_finding",
    model=GeneticFinding,
    date_field="reported_on",
    parsers=GENETIC_FIELDS,
    required=("gene", "reported_on"),
    check=_genetic_check,
)
LIFESTYLE: RecordKind[LifestyleRecord] = RecordKind(
    name="lifestyle_record",
    model=LifestyleRecord,
    date_field="recorded_on",
    parsers=LIFESTYLE_FIELDS,
    required=("recorded_on",),
    check=_lifestyle_check,
    derived=("alcohol_g_per_day",),
)
FINDINGS: RecordKind[ClinicalFinding] = RecordKind(
    name="clinical_finding",
    model=ClinicalFinding,
    date_field="assessed_on",
    parsers=FINDING_FIELDS,
    required=("assessed_on",),
    check=_finding_check,
)
RECORD_KINDS: tuple[RecordKind[Any], ...] = (GENETICS, LIFESTYLE, FINDINGS)


def record_input_parse(kind: RecordKind[Any], raw: Any, *, path: str = "") -> dict[str, Any]:
    """Validate a new record: every field, then the record as a whole."""
    fields = fields_parse(raw, parsers=kind.parsers, required=kind.required, path=path)
    state = {name: fields.get(name) for name in kind.parsers}
    return kind.check(state, set(fields))


def record_dedupe_key(kind: RecordKind[Any], state: Mapping[str, Any]) -> tuple[Any, ...]:
    """Every clinical field: an identical record imported twice is the same record."""
    return tuple(_comparable(state.get(name)) for name in kind.fields)


def _comparable(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value

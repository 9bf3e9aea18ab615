"""The one place where laboratory units are converted.

The analyte catalogue is data (``patients/data/analytes.json``): adding an analyte or a unit
spelling is a JSON edit. Each analyte has a LOINC code, a canonical UCUM unit, the units
accepted with a linear factor (and offset) to canonical, hard plausibility limits in canonical
units, the range of values typical of patients (for "did you mean g/dL?" hints) and a display
reference range.

Pure Python on purpose (no Django models or settings), so the risk engine, Celery workers and
the benchmark can convert without a configured project. An unknown unit is an error, never a
guess (docs/CLINICAL.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# The unit errors belong to the one validation vocabulary; importable from here too.
from patients.errors import ImplausibleValue, NotANumber, UnitSuspect, UnknownAnalyte, UnknownUnit

__all__ = [
    "Analyte", "CanonicalValue", "ImplausibleValue", "NotANumber", "UnitSpec", "UnitSuspect", "UnknownAnalyte",
    "UnknownUnit", "analyte_by_code", "analyte_by_key", "analytes", "unit_alternatives", "unit_from_canonical",
    "unit_to_canonical", "units_accepted", "value_check_plausible", "value_check_unit",
]

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "analytes.json"


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """One accepted spelling: ``canonical = value * factor + offset``."""

    unit: str
    factor: float
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class Analyte:
    key: str
    loinc: str
    display_name: str
    canonical_unit: str
    units: tuple[UnitSpec, ...]
    plausible_min: float
    plausible_min_inclusive: bool
    plausible_max: float
    plausible_max_inclusive: bool
    reference_low: float
    reference_high: float
    typical_low: float
    typical_high: float

    def unit_spec(self, unit: str) -> UnitSpec | None:
        wanted = _unit_normalise(unit)
        for spec in self.units:
            if _unit_normalise(spec.unit) == wanted:
                return spec
        return None


@dataclass(frozen=True, slots=True)
class CanonicalValue:
    value: float
    unit: str


def _unit_normalise(unit: str) -> str:
    # Case-folding turns the micro sign into Greek mu, so both end up as "u" (UCUM's spelling).
    return unit.strip().casefold().replace("\u03bc", "u").replace("\u00b5", "u")


def _number(raw: Any, *, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"analyte catalogue: {where} must be a number")
    return float(raw)


def _analyte_parse(raw: dict[str, Any]) -> Analyte:
    key = raw["key"]
    units = tuple(
        UnitSpec(
            unit=str(u["unit"]),
            factor=_number(u["factor"], where=f"{key}.units.factor"),
            offset=_number(u.get("offset", 0), where=f"{key}.units.offset"),
        )
        for u in raw["units"]
    )
    seen: dict[str, UnitSpec] = {}
    for spec in units:
        if spec.factor <= 0:
            raise ValueError(f"analyte catalogue: {key} unit {spec.unit!r} needs a positive factor")
        norm = _unit_normalise(spec.unit)
        other = seen.get(norm)
        # Two spellings that match the same input must convert alike, or matching would guess.
        if other is not None and (other.factor, other.offset) != (spec.factor, spec.offset):
            raise ValueError(f"analyte catalogue: {key} units {other.unit!r} and {spec.unit!r} clash")
        seen[norm] = spec
    canonical = str(raw["canonical_unit"])
    canonical_spec = seen.get(_unit_normalise(canonical))
    if canonical_spec is None or (canonical_spec.factor, canonical_spec.offset) != (1.0, 0.0):
        raise ValueError(f"analyte catalogue: {key} must accept its canonical unit with factor 1")
    plausible = raw["plausible"]
    reference = raw["reference_range"]
    typical = raw.get("typical") or {"low": plausible["min"], "high": plausible["max"]}
    return Analyte(
        key=key,
        loinc=str(raw["loinc"]),
        display_name=str(raw["display_name"]),
        canonical_unit=canonical,
        units=units,
        plausible_min=_number(plausible["min"], where=f"{key}.plausible.min"),
        plausible_min_inclusive=bool(plausible["min_inclusive"]),
        plausible_max=_number(plausible["max"], where=f"{key}.plausible.max"),
        plausible_max_inclusive=bool(plausible["max_inclusive"]),
        reference_low=_number(reference["low"], where=f"{key}.reference_range.low"),
        reference_high=_number(reference["high"], where=f"{key}.reference_range.high"),
        typical_low=_number(typical["low"], where=f"{key}.typical.low"),
        typical_high=_number(typical["high"], where=f"{key}.typical.high"),
    )


@cache
def _catalogue() -> tuple[dict[str, Analyte], dict[str, Analyte]]:
    """Load and check the catalogue once per process: (by LOINC code, by key)."""
    data = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    by_code: dict[str, Analyte] = {}
    by_key: dict[str, Analyte] = {}
    for raw in data["analytes"]:
        analyte = _analyte_parse(raw)
        if analyte.loinc in by_code or analyte.key in by_key:
            raise ValueError(f"analyte catalogue: duplicate analyte {analyte.key} / {analyte.loinc}")
        by_code[analyte.loinc] = analyte
        by_key[analyte.key] = analyte
    return by_code, by_key


def analytes() -> list[Analyte]:
    """Every catalogued analyte, in catalogue order."""
    return list(_catalogue()[0].values())


def analyte_by_code(code: str) -> Analyte:
    analyte = _catalogue()[0].get(code) if isinstance(code, str) else None
    if analyte is None:
        raise UnknownAnalyte(f"Unknown analyte code {code!r}.", detail={"code": code})
    return analyte


def analyte_by_key(key: str) -> Analyte:
    analyte = _catalogue()[1].get(key) if isinstance(key, str) else None
    if analyte is None:
        raise UnknownAnalyte(f"Unknown analyte key {key!r}.", detail={"key": key})
    return analyte


def units_accepted(code: str) -> list[str]:
    """The unit spellings accepted for an analyte (matching is case-insensitive)."""
    return [spec.unit for spec in analyte_by_code(code).units]


def _finite(value: Any, *, code: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotANumber(f"Value for {code} is not a number.", detail={"code": code, "value": repr(value)})
    number = float(value)
    if not math.isfinite(number):
        raise NotANumber(f"Value for {code} is not finite.", detail={"code": code, "value": repr(value)})
    return number


def _spec(analyte: Analyte, unit: Any) -> UnitSpec:
    spec = analyte.unit_spec(unit) if isinstance(unit, str) else None
    if spec is None:
        raise UnknownUnit(
            f"Unit {unit!r} is not accepted for {analyte.display_name}.",
            detail={"code": analyte.loinc, "unit": unit, "accepted": [s.unit for s in analyte.units]},
        )
    return spec


def unit_to_canonical(*, code: str, value: float, unit: str) -> CanonicalValue:
    """Convert a value in ``unit`` to the analyte's canonical unit.

    Conversion only: call ``value_check_plausible`` on the result to apply the hard limits.
    """
    analyte = analyte_by_code(code)
    number = _finite(value, code=code)
    spec = _spec(analyte, unit)
    return CanonicalValue(value=number * spec.factor + spec.offset, unit=analyte.canonical_unit)


def unit_from_canonical(*, code: str, value: float, unit: str) -> float:
    """Convert a canonical value to ``unit`` (e.g. bilirubin umol/L to mg/dL for MELD)."""
    return units_from_canonical(code=code, values=[value], unit=unit)[0]


def units_from_canonical(*, code: str, values: list[float], unit: str) -> list[float]:
    """Like ``unit_from_canonical`` for many values of one analyte (a trend): the analyte and
    unit are looked up once."""
    analyte = analyte_by_code(code)
    spec = _spec(analyte, unit)
    return [(_finite(v, code=code) - spec.offset) / spec.factor for v in values]


def value_check_plausible(*, code: str, canonical_value: float) -> None:
    """Raise ``ImplausibleValue`` when a canonical value breaks the analyte's hard limits."""
    analyte = analyte_by_code(code)
    number = _finite(canonical_value, code=code)
    low_ok = (
        number >= analyte.plausible_min if analyte.plausible_min_inclusive else number > analyte.plausible_min
    )
    high_ok = (
        number <= analyte.plausible_max if analyte.plausible_max_inclusive else number < analyte.plausible_max
    )
    if not (low_ok and high_ok):
        low = "[" if analyte.plausible_min_inclusive else "("
        high = "]" if analyte.plausible_max_inclusive else ")"
        raise ImplausibleValue(
            f"{analyte.display_name} {number:g} {analyte.canonical_unit} is outside the plausible range "
            f"{low}{analyte.plausible_min:g}, {analyte.plausible_max:g}{high}.",
            detail={
                "code": code,
                "key": analyte.key,
                "value": number,
                "unit": analyte.canonical_unit,
                "min": analyte.plausible_min,
                "min_inclusive": analyte.plausible_min_inclusive,
                "max": analyte.plausible_max,
                "max_inclusive": analyte.plausible_max_inclusive,
            },
        )


def unit_alternatives(*, code: str, value: float, unit: str) -> list[str]:
    """Other accepted units in which ``value`` would be typical, when it is not typical in ``unit``.

    "Albumin 35 g/L" gives []; "albumin 3.5 g/L" gives ["g/dL"]. One spelling per distinct
    conversion (the first the catalogue lists), so "10*9/L" is offered, not all its synonyms.
    """
    analyte = analyte_by_code(code)
    number = _finite(value, code=code)
    entered = _spec(analyte, unit)

    def typical(spec: UnitSpec) -> bool:
        canonical = number * spec.factor + spec.offset
        return analyte.typical_low <= canonical <= analyte.typical_high

    if typical(entered):
        return []
    seen = {(entered.factor, entered.offset)}
    found: list[str] = []
    for spec in analyte.units:
        if (spec.factor, spec.offset) in seen:
            continue
        seen.add((spec.factor, spec.offset))
        if typical(spec):
            found.append(spec.unit)
    return found


def value_check_unit(*, code: str, value: float, unit: str) -> None:
    """Raise ``UnitSuspect`` ("did you mean g/dL?") when the value fits another unit, not this one."""
    suggested = unit_alternatives(code=code, value=value, unit=unit)
    if suggested:
        analyte = analyte_by_code(code)
        raise UnitSuspect(
            f"{analyte.display_name} {value:g} {unit} is unusual; did you mean {' or '.join(suggested)}?",
            detail={"code": code, "value": value, "unit": unit, "suggested_units": suggested},
        )

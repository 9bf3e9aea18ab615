"""Reading untrusted input field by field, with stable error codes.

Each parser takes the raw value and its field path (``observations[3].unit``) and returns the
typed value or raises one of the ``patients.errors`` classes whose ``detail["field"]`` names the
path. JSON bodies, CSV rows, FHIR resources, score requests and risk modifiers all go through
these, so the same mistake gets the same class and code wherever it comes from.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from django.utils import timezone

from cdss.core.errors import CdssError
from patients.errors import (
    FutureDate,
    ImplausibleValue,
    InconsistentValues,
    InvalidChoice,
    InvalidDate,
    InvalidField,
    MissingField,
    NotANumber,
    UnitSuspect,
    UnknownField,
)
from patients.units import (
    Analyte,
    CanonicalValue,
    analyte_by_code,
    unit_to_canonical,
    value_check_plausible,
    value_check_unit,
)

Parser = Callable[[Any, str], Any]

# A clock a few minutes fast (an analyser, a phone) must not make a fresh result "in the future".
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# A calendar date is in the future only once it has begun nowhere on Earth (UTC+14 is the earliest).
EARLIEST_TIME_ZONE_AHEAD = dt.timedelta(hours=14)
EARLIEST_DATE = dt.date(1900, 1, 1)


def field_error_detail(path: str, **extra: Any) -> dict[str, Any]:
    return {"field": path, **extra}


def at_field(exc: CdssError, path: str) -> CdssError:
    """The same error, with ``detail["field"]`` naming where in the input it was made."""
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    exc.detail = {**detail, "field": path}
    return exc


def mapping_read(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidField(f"{path}: must be an object.", detail=field_error_detail(path))
    return value


def list_read(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidField(f"{path}: must be a list.", detail=field_error_detail(path))
    return value


def fields_parse(
    raw: Any,
    *,
    parsers: Mapping[str, Parser],
    required: Collection[str] = (),
    path: str = "",
) -> dict[str, Any]:
    """Parse every present field; ``None`` stays ``None`` (not stated). Unknown names are errors."""
    mapping_read(raw, path or "body")
    prefix = f"{path}." if path else ""
    unknown = sorted(str(name) for name in raw if name not in parsers)
    if unknown:
        raise UnknownField(
            f"{prefix}{unknown[0]}: unknown field.",
            detail=field_error_detail(f"{prefix}{unknown[0]}", allowed=sorted(parsers)),
        )
    for name in required:
        if raw.get(name) is None:
            raise MissingField(f"{prefix}{name}: required.", detail=field_error_detail(f"{prefix}{name}"))
    return {
        name: None if value is None else parsers[name](value, f"{prefix}{name}") for name, value in raw.items()
    }


def text(max_length: int, *, pattern: str | None = None, hint: str = "") -> Parser:
    regex = re.compile(pattern) if pattern else None

    def parse(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise InvalidField(f"{path}: must be a string.", detail=field_error_detail(path))
        cleaned = value.strip()
        if len(cleaned) > max_length:
            raise InvalidField(
                f"{path}: longer than {max_length} characters.", detail=field_error_detail(path, max_length=max_length)
            )
        if regex is not None and cleaned and not regex.fullmatch(cleaned):
            raise InvalidField(f"{path}: not a valid {hint or 'value'}.", detail=field_error_detail(path))
        return cleaned

    return parse


def choice(choices: type[Enum] | Iterable[str]) -> Parser:
    """One of an enumeration's values, or of a list of strings (a ``Literal``'s arguments)."""
    allowed = [str(member.value) for member in choices] if isinstance(choices, type) else [str(c) for c in choices]

    def parse(value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise InvalidChoice(
                f"{path}: must be one of {', '.join(allowed)}.", detail=field_error_detail(path, allowed=allowed)
            )
        return value

    return parse


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidField(f"{path}: must be true or false.", detail=field_error_detail(path))
    return value


def number_read(value: Any, path: str) -> float:
    """A finite number; numeric strings (CSV, forms) are read too. Anything else is ``not_a_number``."""
    if isinstance(value, bool):
        raise NotANumber(f"{path}: not a number.", detail=field_error_detail(path))
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError as exc:
            raise NotANumber(f"{path}: not a number.", detail=field_error_detail(path)) from exc
    else:
        raise NotANumber(f"{path}: not a number.", detail=field_error_detail(path))
    if not math.isfinite(number):
        raise NotANumber(f"{path}: not a finite number.", detail=field_error_detail(path))
    return number


COMPARATORS = ("<=", ">=", "<", ">")  # longest first: "<=5" is "<=" and 5, not "<" and "=5"
# How CSV exports and analysers spell a comparator, mapped to FHIR Quantity.comparator.
_COMPARATOR_SPELLINGS = {"\u2264": "<=", "\u2265": ">=", "=<": "<=", "=>": ">="}


def comparator_read(value: Any, path: str) -> str:
    """A FHIR Quantity.comparator (<, <=, >=, >); blank means an exact value."""
    if not isinstance(value, str):
        raise InvalidChoice(f"{path}: must be one of <, <=, >=, >.", detail=field_error_detail(path, allowed=list(COMPARATORS)))
    cleaned = _COMPARATOR_SPELLINGS.get(value.strip(), value.strip())
    if cleaned and cleaned not in COMPARATORS:
        raise InvalidChoice(f"{path}: must be one of <, <=, >=, >.", detail=field_error_detail(path, allowed=list(COMPARATORS)))
    return cleaned


def censored_number_read(value: Any, path: str) -> tuple[str, float]:
    """A number, or a censored result written as text ("<5", "> 2000", "<=0.1", "\u22645").

    Returns ``(comparator, number)`` with comparator "" for an exact value.
    """
    if isinstance(value, str):
        text_value = value.strip()
        for spelling, comparator in (*_COMPARATOR_SPELLINGS.items(), *((c, c) for c in COMPARATORS)):
            if text_value.startswith(spelling):
                return comparator, number_read(text_value[len(spelling):], path)
    return "", number_read(value, path)


def number(low: float, high: float, *, low_inclusive: bool = True) -> Parser:
    """A number within hard plausibility limits (``implausible_value`` outside them)."""

    def parse(value: Any, path: str) -> float:
        result = number_read(value, path)
        if result < low or (result == low and not low_inclusive) or result > high:
            bracket = "[" if low_inclusive else "("
            raise ImplausibleValue(
                f"{path}: {result:g} is outside {bracket}{low:g}, {high:g}].",
                detail=field_error_detail(path, value=result, min=low, max=high),
            )
        return result

    return parse


def integer(low: int, high: int) -> Parser:
    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(f"{path}: must be a whole number.", detail=field_error_detail(path))
        if not low <= value <= high:
            raise ImplausibleValue(
                f"{path}: {value} is outside [{low}, {high}].",
                detail=field_error_detail(path, value=value, min=low, max=high),
            )
        return value

    return parse


def latest_valid_date(now: dt.datetime | None = None) -> dt.date:
    return ((now or timezone.now()) + EARLIEST_TIME_ZONE_AHEAD).astimezone(dt.UTC).date()


def past_date(value: Any, path: str) -> dt.date:
    """An ISO 8601 calendar date (YYYY-MM-DD) that has begun somewhere on Earth."""
    if isinstance(value, dt.datetime):
        parsed = value.date()
    elif isinstance(value, dt.date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidDate(f"{path}: not a date (YYYY-MM-DD).", detail=field_error_detail(path)) from exc
    else:
        raise InvalidDate(f"{path}: not a date (YYYY-MM-DD).", detail=field_error_detail(path))
    if parsed < EARLIEST_DATE:
        raise InvalidDate(f"{path}: before {EARLIEST_DATE.isoformat()}.", detail=field_error_detail(path))
    if parsed > latest_valid_date():
        raise FutureDate(f"{path}: is in the future.", detail=field_error_detail(path))
    return parsed


def datetime_read(value: Any, path: str) -> dt.datetime:
    """An ISO 8601 date-time (or a date, read as midnight UTC); no time zone means UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time.min)
    elif isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            parsed = (
                dt.datetime.combine(dt.date.fromisoformat(raw), dt.time.min)
                if len(raw) == 10
                else dt.datetime.fromisoformat(raw)
            )
        except ValueError as exc:
            raise InvalidDate(f"{path}: not an ISO 8601 date-time.", detail=field_error_detail(path)) from exc
    else:
        raise InvalidDate(f"{path}: not an ISO 8601 date-time.", detail=field_error_detail(path))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-14:00 have no UTC time
        raise InvalidDate(f"{path}: outside the range of dates.", detail=field_error_detail(path)) from exc


def past_datetime(value: Any, path: str) -> dt.datetime:
    parsed = datetime_read(value, path)
    if parsed.date() < EARLIEST_DATE:
        raise InvalidDate(f"{path}: before {EARLIEST_DATE.isoformat()}.", detail=field_error_detail(path))
    if parsed > timezone.now() + FUTURE_TOLERANCE:
        raise FutureDate(f"{path}: is in the future.", detail=field_error_detail(path))
    return parsed


def as_given(value: Any, path: str) -> Any:
    """Left for a reader that judges the field with others (a value with its unit)."""
    return value


def unit_read(value: Any, path: str) -> str:
    """A unit as written (empty for a unitless analyte such as INR); the catalogue judges it."""
    if not isinstance(value, str):
        raise InvalidField(f"{path}: must be a string.", detail=field_error_detail(path))
    return value.strip()


# The fields of a laboratory quantity wherever one is entered; ``lab_quantity_read`` reads them.
LAB_QUANTITY_FIELDS: dict[str, Parser] = {
    "code": text(32, hint="LOINC code"),
    "value": as_given,
    "unit": unit_read,
    "comparator": comparator_read,
}


@dataclass(frozen=True, slots=True)
class LabQuantity:
    """A laboratory value read and checked: as entered, and in the analyte's canonical unit."""

    analyte: Analyte
    value: float
    unit: str  # the catalogue's spelling of the unit that matched
    canonical: CanonicalValue
    comparator: str = ""


def lab_quantity_read(
    *, code: str, value: Any, unit: str, comparator: str | None = None, path: str = "", unit_confirmed: bool = True
) -> LabQuantity:
    """Read an analyte's value and unit: the one reading of a laboratory quantity.

    ``value`` may be a number or a censored result as text ("<5"); ``comparator`` states one
    beside a number. Errors name ``{path}.code``, ``.value``, ``.unit`` or ``.comparator``. A
    value outside the analyte's limits that is ordinary in another accepted unit is a unit
    mix-up (``unit_suspect``, with the likely unit); without ``unit_confirmed``, so is a value
    that is possible but typical only in another unit.
    """
    prefix = f"{path}." if path else ""
    try:
        analyte = analyte_by_code(code)
    except CdssError as exc:
        raise at_field(exc, f"{prefix}code") from None
    censored, number = censored_number_read(value, f"{prefix}value")
    if comparator is not None:
        if censored and comparator != censored:
            raise InconsistentValues(
                f"{prefix}comparator: {comparator!r} contradicts the value's {censored!r}.",
                detail=field_error_detail(f"{prefix}comparator"),
            )
        censored = comparator
    spec = analyte.unit_spec(unit)
    if spec is None and not unit:
        raise MissingField(
            f"{prefix}unit: required for {analyte.display_name}.", detail=field_error_detail(f"{prefix}unit")
        )
    try:
        canonical = unit_to_canonical(code=analyte.loinc, value=number, unit=unit)
    except CdssError as exc:
        raise at_field(exc, f"{prefix}unit") from None
    try:
        value_check_plausible(code=analyte.loinc, canonical_value=canonical.value)
    except ImplausibleValue as exc:
        try:
            value_check_unit(code=analyte.loinc, value=number, unit=unit)
        except UnitSuspect as suspect:
            raise at_field(suspect, f"{prefix}unit") from None
        raise at_field(exc, f"{prefix}value") from None
    if not unit_confirmed:
        try:
            value_check_unit(code=analyte.loinc, value=number, unit=unit)
        except UnitSuspect as exc:
            raise at_field(exc, f"{prefix}unit") from None
    return LabQuantity(
        analyte=analyte,
        value=number,
        unit=spec.unit if spec is not None else unit,
        canonical=canonical,
        comparator=censored,
    )

"""Reading untrusted input field by field, with stable error codes.

Each parser takes the raw value and its field path (``observations[3].unit``) and returns the
typed value or raises a ``ValidationFailed`` subclass whose ``detail["field"]`` names the path.
JSON bodies, CSV rows and FHIR resources all go through these, so the same mistake gets the
same code wherever it comes from.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Mapping
from enum import Enum
from typing import Any

from django.utils import timezone

from patients.errors import FutureDate, InvalidChoice, InvalidDate, InvalidField, MissingField, UnknownField
from patients.units import ImplausibleValue, NotANumber

Parser = Callable[[Any, str], Any]

# A clock a few minutes fast (an analyser, a phone) must not make a fresh result "in the future".
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# A calendar date is in the future only once it has begun nowhere on Earth (UTC+14 is the earliest).
EARLIEST_TIME_ZONE_AHEAD = dt.timedelta(hours=14)
EARLIEST_DATE = dt.date(1900, 1, 1)


def field_error_detail(path: str, **extra: Any) -> dict[str, Any]:
    return {"field": path, **extra}


def fields_parse(
    raw: Any,
    *,
    parsers: Mapping[str, Parser],
    required: Collection[str] = (),
    path: str = "",
) -> dict[str, Any]:
    """Parse every present field; ``None`` stays ``None`` (not stated). Unknown names are errors."""
    where = path or "body"
    if not isinstance(raw, Mapping):
        raise InvalidField(f"{where}: must be an object.", detail=field_error_detail(where))
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


def choice(choices: type[Enum]) -> Parser:
    allowed = [str(member.value) for member in choices]

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

"""The units module: every conversion both ways, every error code, plausibility boundaries."""

from __future__ import annotations

import math

import pytest

from cdss.core.errors import ValidationFailed
from patients import units
from patients.units import (
    CanonicalValue,
    ImplausibleValue,
    NotANumber,
    UnitSuspect,
    UnknownAnalyte,
    UnknownUnit,
    analyte_by_code,
    analyte_by_key,
    analytes,
    unit_alternatives,
    unit_from_canonical,
    unit_to_canonical,
    units_accepted,
    value_check_plausible,
    value_check_unit,
)

# Expected factors to canonical, written from docs/CLINICAL.md rather than read from the JSON,
# so that an edit to the catalogue that changes a factor fails here.
CONVERSIONS: list[tuple[str, str, float]] = [
    ("1742-6", "U/L", 1),
    ("1742-6", "IU/L", 1),
    ("1742-6", "ukat/L", 60),
    ("1742-6", "µkat/L", 60),
    ("1920-8", "U/L", 1),
    ("1920-8", "IU/L", 1),
    ("1920-8", "ukat/L", 60),
    ("1920-8", "µkat/L", 60),
    ("1975-2", "umol/L", 1),
    ("1975-2", "µmol/L", 1),
    ("1975-2", "mg/dL", 17.1),
    ("1751-7", "g/L", 1),
    ("1751-7", "g/dL", 10),
    ("777-3", "10*9/L", 1),
    ("777-3", "10^9/L", 1),
    ("777-3", "10*3/uL", 1),
    ("777-3", "10^3/uL", 1),
    ("777-3", "10*3/µL", 1),
    ("777-3", "10^3/µL", 1),
    ("777-3", "10*3/mm3", 1),
    ("777-3", "K/uL", 1),
    ("777-3", "/mm3", 0.001),
    ("777-3", "/uL", 0.001),
    ("777-3", "/µL", 0.001),
    ("6301-6", "{INR}", 1),
    ("6301-6", "", 1),
    ("6301-6", "INR", 1),
    ("6301-6", "{ratio}", 1),
    ("6301-6", "1", 1),
    ("2160-0", "umol/L", 1),
    ("2160-0", "µmol/L", 1),
    ("2160-0", "mmol/L", 1000),
    ("2160-0", "mg/dL", 88.4),
    ("2951-2", "mmol/L", 1),
    ("2951-2", "meq/L", 1),
    ("1834-1", "ng/mL", 1),
    ("1834-1", "ug/L", 1),
    ("1834-1", "µg/L", 1),
    ("1834-1", "kU/L", 1.21),
    ("1834-1", "kIU/L", 1.21),
    ("1834-1", "IU/mL", 1.21),
    ("6768-6", "U/L", 1),
    ("6768-6", "IU/L", 1),
    ("6768-6", "ukat/L", 60),
    ("6768-6", "µkat/L", 60),
    ("2324-2", "U/L", 1),
    ("2324-2", "IU/L", 1),
    ("2324-2", "ukat/L", 60),
    ("2324-2", "µkat/L", 60),
    ("42332-7", "%", 1),
    ("34444-0", "ng/mL", 1),
    ("34444-0", "ug/L", 1),
    ("34444-0", "µg/L", 1),
]

CANONICAL = {
    "1742-6": "U/L",
    "1920-8": "U/L",
    "1975-2": "umol/L",
    "1751-7": "g/L",
    "777-3": "10*9/L",
    "6301-6": "{INR}",
    "2160-0": "umol/L",
    "2951-2": "mmol/L",
    "1834-1": "ng/mL",
    "6768-6": "U/L",
    "2324-2": "U/L",
    "42332-7": "%",
    "34444-0": "ng/mL",
}

KEYS = {
    "alt": "1742-6",
    "ast": "1920-8",
    "bilirubin_total": "1975-2",
    "albumin": "1751-7",
    "platelets": "777-3",
    "inr": "6301-6",
    "creatinine": "2160-0",
    "sodium": "2951-2",
    "afp": "1834-1",
    "alp": "6768-6",
    "ggt": "2324-2",
    "afp_l3": "42332-7",
    "dcp": "34444-0",
}


def test_catalogue_has_exactly_the_clinical_analytes() -> None:
    assert {a.key: a.loinc for a in analytes()} == KEYS
    for analyte in analytes():
        assert analyte.canonical_unit == CANONICAL[analyte.loinc]
        assert analyte_by_key(analyte.key) is analyte
        assert analyte_by_code(analyte.loinc) is analyte
        assert analyte.reference_low <= analyte.reference_high


def test_every_accepted_unit_has_an_expected_conversion() -> None:
    table = {(code, unit) for code, unit, _ in CONVERSIONS}
    catalogue = {(a.loinc, unit) for a in analytes() for unit in units_accepted(a.loinc)}
    assert catalogue == table


@pytest.mark.parametrize(("code", "unit", "factor"), CONVERSIONS)
def test_conversion_to_canonical(code: str, unit: str, factor: float) -> None:
    value = 2.5
    result = unit_to_canonical(code=code, value=value, unit=unit)
    assert isinstance(result, CanonicalValue)
    assert result.value == pytest.approx(value * factor)
    assert result.unit == CANONICAL[code]


@pytest.mark.parametrize(("code", "unit", "factor"), CONVERSIONS)
def test_conversion_from_canonical(code: str, unit: str, factor: float) -> None:
    assert unit_from_canonical(code=code, value=100.0, unit=unit) == pytest.approx(100.0 / factor)


@pytest.mark.parametrize(("code", "unit", "factor"), CONVERSIONS)
def test_round_trip(code: str, unit: str, factor: float) -> None:
    for value in (0.37, 1.0, 142.0, 9876.5):
        canonical = unit_to_canonical(code=code, value=value, unit=unit)
        back = unit_from_canonical(code=code, value=canonical.value, unit=unit)
        assert back == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("code", "unit", "value", "expected"),
    [
        # The worked figures of CLINICAL.md's table.
        ("1975-2", "mg/dL", 1.0, 17.1),
        ("2160-0", "mg/dL", 1.0, 88.4),
        ("1751-7", "g/dL", 3.5, 35.0),
        ("1742-6", "ukat/L", 0.5, 30.0),
        ("777-3", "/mm3", 250_000, 250.0),
        ("1834-1", "IU/mL", 10.0, 12.1),
        # Case-insensitive spellings and both micro characters.
        ("1975-2", "MG/DL", 1.0, 17.1),
        ("1975-2", "mg/dl", 1.0, 17.1),
        ("1975-2", "\u00b5mol/L", 20.0, 20.0),
        ("1975-2", "\u03bcmol/L", 20.0, 20.0),
        ("1975-2", "UMOL/L", 20.0, 20.0),
        ("2951-2", "mEq/L", 140.0, 140.0),
        ("2951-2", "MEQ/L", 140.0, 140.0),
        ("1834-1", "ku/l", 1.0, 1.21),
        ("6301-6", "  ", 1.1, 1.1),
        ("6301-6", "{inr}", 1.1, 1.1),
        ("777-3", " 10*9/L ", 200, 200.0),
    ],
)
def test_conversion_examples(code: str, unit: str, value: float, expected: float) -> None:
    assert unit_to_canonical(code=code, value=value, unit=unit).value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        ("1742-6", "mg/dL"),  # an enzyme activity is never a mass concentration
        ("1975-2", "mmol/L"),  # plausible-looking, but not accepted: never guess
        ("1975-2", "mg/L"),
        ("777-3", "g/L"),
        ("777-3", "G/L"),
        ("1751-7", "mg/dL"),
        ("6301-6", "s"),  # prothrombin time in seconds is not an INR
        ("2951-2", "mg/dL"),
        ("1834-1", "U/mL"),
        ("1742-6", "U / L"),
    ],
)
def test_unknown_unit(code: str, unit: str) -> None:
    with pytest.raises(UnknownUnit) as caught:
        unit_to_canonical(code=code, value=1.0, unit=unit)
    assert caught.value.code == "unknown_unit"
    assert caught.value.detail["unit"] == unit
    with pytest.raises(UnknownUnit):
        unit_from_canonical(code=code, value=1.0, unit=unit)


def test_unit_must_be_a_string() -> None:
    with pytest.raises(UnknownUnit):
        unit_to_canonical(code="1742-6", value=1.0, unit=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["", "1742", "17426", "alt", "0000-0"])
def test_unknown_analyte(code: str) -> None:
    with pytest.raises(UnknownAnalyte) as caught:
        analyte_by_code(code)
    assert caught.value.code == "unknown_analyte"
    for call in (
        lambda: unit_to_canonical(code=code, value=1.0, unit="U/L"),
        lambda: unit_from_canonical(code=code, value=1.0, unit="U/L"),
        lambda: units_accepted(code),
        lambda: value_check_plausible(code=code, canonical_value=1.0),
    ):
        with pytest.raises(UnknownAnalyte):
            call()


def test_unknown_analyte_key() -> None:
    with pytest.raises(UnknownAnalyte) as caught:
        analyte_by_key("1742-6")
    assert caught.value.code == "unknown_analyte"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "1.2", None, True])
def test_not_a_number(value: object) -> None:
    with pytest.raises(NotANumber) as caught:
        unit_to_canonical(code="1742-6", value=value, unit="U/L")  # type: ignore[arg-type]
    assert caught.value.code == "not_a_number"
    with pytest.raises(NotANumber):
        value_check_plausible(code="1742-6", canonical_value=value)  # type: ignore[arg-type]
    with pytest.raises(NotANumber):
        unit_from_canonical(code="1742-6", value=value, unit="U/L")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "value", "ok"),
    [
        # (low, high] limits: zero is impossible for these, the maximum itself is accepted.
        ("1742-6", -5.0, False),
        ("1742-6", 0.0, False),
        ("1742-6", 0.001, True),
        ("1742-6", 50_000.0, True),
        ("1742-6", 50_000.1, False),
        ("1920-8", 0.0, False),
        ("1920-8", 50_000.0, True),
        ("1975-2", 0.0, False),
        ("1975-2", 1710.0, True),
        ("1975-2", 1711.0, False),
        ("1751-7", 0.0, False),
        ("1751-7", 80.0, True),
        ("1751-7", 300.0, False),  # albumin 300 g/L: a g/dL value typed as g/L x 100
        ("777-3", 0.0, False),
        ("777-3", 5000.0, True),
        ("777-3", 5001.0, False),
        ("6301-6", 0.0, False),
        ("6301-6", 30.0, True),
        ("6301-6", 30.1, False),
        ("2160-0", 0.0, False),
        ("2160-0", 4420.0, True),
        ("2160-0", 4421.0, False),
        # [80, 200] for sodium: both limits inclusive.
        ("2951-2", 79.9, False),
        ("2951-2", 80.0, True),
        ("2951-2", 200.0, True),
        ("2951-2", 200.1, False),
        ("1834-1", 0.0, False),
        ("1834-1", 10_000_000.0, True),
        ("1834-1", 10_000_001.0, False),
        ("6768-6", 0.0, False),
        ("6768-6", 20_000.0, True),
        ("2324-2", 20_001.0, False),
    ],
)
def test_plausibility_boundaries(code: str, value: float, ok: bool) -> None:
    if ok:
        value_check_plausible(code=code, canonical_value=value)
        return
    with pytest.raises(ImplausibleValue) as caught:
        value_check_plausible(code=code, canonical_value=value)
    assert caught.value.code == "implausible_value"
    assert caught.value.detail["value"] == value


def test_errors_are_validation_failures_with_status_400() -> None:
    for error in (UnknownAnalyte, UnknownUnit, ImplausibleValue, NotANumber):
        assert issubclass(error, ValidationFailed)
        assert error("x").status_code == 400
    assert {UnknownAnalyte.code, UnknownUnit.code, ImplausibleValue.code, NotANumber.code} == {
        "unknown_analyte",
        "unknown_unit",
        "implausible_value",
        "not_a_number",
    }


def test_catalogue_rejects_clashing_spellings() -> None:
    raw = {
        "key": "x",
        "loinc": "0-0",
        "display_name": "x",
        "canonical_unit": "umol/L",
        "units": [{"unit": "umol/L", "factor": 1}, {"unit": "µmol/L", "factor": 2}],
        "plausible": {"min": 0, "min_inclusive": False, "max": 1, "max_inclusive": True},
        "reference_range": {"low": 0, "high": 1},
    }
    with pytest.raises(ValueError, match="clash"):
        units._analyte_parse(raw)


def test_catalogue_requires_canonical_unit_with_factor_one() -> None:
    raw = {
        "key": "x",
        "loinc": "0-0",
        "display_name": "x",
        "canonical_unit": "g/L",
        "units": [{"unit": "g/dL", "factor": 10}],
        "plausible": {"min": 0, "min_inclusive": False, "max": 1, "max_inclusive": True},
        "reference_range": {"low": 0, "high": 1},
    }
    with pytest.raises(ValueError, match="canonical"):
        units._analyte_parse(raw)


@pytest.mark.parametrize(
    ("code", "value", "unit", "suggested"),
    [
        ("1751-7", 3.5, "g/L", ["g/dL"]),  # albumin in g/dL typed as g/L
        ("1751-7", 35.0, "g/dL", ["g/L"]),  # and the other way round
        ("1751-7", 35.0, "g/L", []),
        ("2160-0", 1.1, "umol/L", ["mmol/L", "mg/dL"]),
        ("777-3", 150.0, "/mm3", ["10*9/L"]),  # one spelling per distinct conversion
        ("1975-2", 2.6, "mg/dL", []),
        ("2951-2", 140.0, "mmol/L", []),  # every sodium unit converts alike: never a hint
    ],
)
def test_did_you_mean_another_unit(code: str, value: float, unit: str, suggested: list[str]) -> None:
    assert unit_alternatives(code=code, value=value, unit=unit) == suggested
    if suggested:
        with pytest.raises(UnitSuspect) as caught:
            value_check_unit(code=code, value=value, unit=unit)
        assert caught.value.code == "unit_suspect" and caught.value.detail["suggested_units"] == suggested
        assert f"did you mean {suggested[0]}" in caught.value.message
    else:
        value_check_unit(code=code, value=value, unit=unit)


def test_every_typical_range_lies_inside_the_plausible_limits() -> None:
    for analyte in analytes():
        assert analyte.plausible_min <= analyte.typical_low < analyte.typical_high <= analyte.plausible_max, analyte.key

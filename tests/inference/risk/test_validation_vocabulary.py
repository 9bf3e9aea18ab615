"""One validation vocabulary: the same mistake gets the same error class and code at every entry.

Each mistake is fed through every entry point that can express it: the observation API, a
CSV import row, a FHIR import entry, a score request and the risk modifiers. The code is read
from what a client receives (the HTTP answer or the import report); the class from the parser
that entry point uses.

Not every entry point can make every mistake: FHIR's own types refuse a value that is not a
decimal, an unknown element or an unknown comparator before any row is read (``invalid_fhir``
for the whole document); a CSV header with an unknown column is a file format error
(``invalid_csv``); the modifiers have no laboratory values, units or dates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from cdss.core.errors import CdssError
from inference.risk.modifiers import modifier_inputs_parse
from inference.risk.scores import SCORES
from inference.risk.scores.inputs import score_request_parse
from patients.errors import (
    FutureDate,
    ImplausibleValue,
    InvalidChoice,
    MissingField,
    NotANumber,
    UnknownAnalyte,
    UnknownField,
    UnknownUnit,
)
from patients.interchange.csv_rows import csv_rows_read
from patients.interchange.fhir import LOINC, UCUM, bundle_entries_map, bundle_parse
from patients.record_kinds import LIFESTYLE, record_input_parse
from patients.services.observations import observation_input_parse
from tests.conftest import World, client_for
from tests.patients.helpers import patient_url

pytestmark = pytest.mark.django_db

ABSENT = object()  # the field is not sent at all
BASE = {"code": "1742-6", "value": 42, "unit": "U/L", "when": "2024-03-01T08:30:00Z"}


def _raised(parse: Callable[[], Any]) -> type[CdssError]:
    with pytest.raises(CdssError) as caught:
        parse()
    return type(caught.value)


def _fields(lab: dict[str, Any], date_name: str) -> dict[str, Any]:
    """The observation as a JSON object, its date under ``date_name``; absent fields left out."""
    names = {"when": date_name}
    return {names.get(name, name): value for name, value in lab.items() if value is not ABSENT}


def _api(world: World, lab: dict[str, Any]) -> tuple[str, type[CdssError]]:
    body = _fields(lab, "observed_at")
    response = client_for(world.clinician).post(patient_url(world.patient.pk, "observations/"), body, format="json")
    assert response.status_code == 400, response.content
    return response.json()["code"], _raised(lambda: observation_input_parse(body))


def _csv(world: World, lab: dict[str, Any]) -> tuple[str, type[CdssError]]:
    row = _fields(lab, "observed_at")
    columns = ["code", "value", "unit", "observed_at", *(name for name in row if name not in BASE and name != "observed_at")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow(["" if row.get(name) is None else str(row[name]) for name in columns])
    text = out.getvalue()
    url = patient_url(world.patient.pk, "import/") + "?dry_run=true"
    response = client_for(world.clinician).post(url, text, content_type="text/csv")
    assert response.status_code == 200, response.content
    (error,) = response.json()["errors"]
    (parsed,) = csv_rows_read(text, max_rows=10)
    return error["code"], _raised(lambda: observation_input_parse(parsed.data))


def _fhir(world: World, lab: dict[str, Any]) -> tuple[str, type[CdssError]]:
    quantity: dict[str, Any] = {"unit": lab["unit"], "system": UCUM, "code": lab["unit"]}
    if lab["value"] is not ABSENT:
        quantity["value"] = lab["value"]
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": lab["code"]}]},
        "effectiveDateTime": lab["when"],
        "valueQuantity": quantity,
    }
    document = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    url = patient_url(world.patient.pk, "import/") + "?dry_run=true"
    response = client_for(world.clinician).post(url, document, format="json")
    assert response.status_code == 200, response.content
    (error,) = response.json()["errors"]
    mapped, errors, _ = bundle_entries_map(bundle_parse(document), patient=world.patient)
    cls = type(errors[0][1]) if errors else _raised(lambda: observation_input_parse(mapped[0].data))
    return error["code"], cls


def _score(world: World, lab: dict[str, Any]) -> tuple[str, type[CdssError]]:
    body = {"observations": [_fields(lab, "date")]}
    response = client_for(world.clinician).post("/api/v1/scores/evaluate", body, format="json")
    assert response.status_code == 400, response.content
    return response.json()["code"], _raised(lambda: score_request_parse(body, known_scores=SCORES))


def _modifiers(world: World, modifiers: dict[str, Any]) -> tuple[str, type[CdssError]]:
    response = client_for(world.clinician).post("/api/v1/scores/evaluate", {"modifiers": modifiers}, format="json")
    assert response.status_code == 400, response.content
    return response.json()["code"], _raised(lambda: modifier_inputs_parse(modifiers))


LAB_ENTRIES = {"api": _api, "csv": _csv, "fhir": _fhir, "score": _score}

# mistake -> (the class every entry must raise, the bad laboratory value or None, the bad
# modifiers or None, lab entries that cannot express the mistake)
MISTAKES: dict[str, tuple[type[CdssError], dict[str, Any] | None, dict[str, Any] | None, set[str]]] = {
    "missing value": (MissingField, {"value": ABSENT}, None, set()),
    "not a number": (NotANumber, {"value": "forty"}, {"bmi_kg_m2": "heavy"}, {"fhir"}),
    "out of range": (ImplausibleValue, {"value": -5}, {"bmi_kg_m2": 400}, set()),
    "unknown unit": (UnknownUnit, {"unit": "mg/furlong"}, None, set()),
    "unknown analyte": (UnknownAnalyte, {"code": "9999-9"}, None, set()),
    "future date": (FutureDate, {"when": "2999-01-01T00:00:00Z"}, None, set()),
    "unknown field": (UnknownField, {"colour": "red"}, {"coffee": 3}, {"csv", "fhir"}),
    "unknown choice": (InvalidChoice, {"comparator": "~"}, {"smoking": "sometimes"}, {"fhir"}),
}

CASES = [
    pytest.param(mistake, entry, id=f"{mistake}-{entry}")
    for mistake, (_, lab, modifiers, cannot) in MISTAKES.items()
    for entry in [*(e for e in LAB_ENTRIES if lab is not None and e not in cannot), *(["modifiers"] if modifiers else [])]
]


@pytest.mark.parametrize(("mistake", "entry"), CASES)
def test_the_same_mistake_has_the_same_class_and_code_everywhere(world: World, mistake: str, entry: str) -> None:
    expected, lab, modifiers, _ = MISTAKES[mistake]
    if entry == "modifiers":
        assert modifiers is not None
        code, cls = _modifiers(world, modifiers)
    else:
        assert lab is not None
        code, cls = LAB_ENTRIES[entry](world, {**BASE, **lab})
    assert cls is expected
    assert code == expected.code


def test_every_mistake_reaches_at_least_three_entry_points() -> None:
    """The table is a comparison: a mistake only one entry can make would prove nothing."""
    for mistake in MISTAKES:
        assert sum(1 for case in CASES if case.values[0] == mistake) >= 3, mistake


def _lifestyle_api(world: World, fields: dict[str, Any]) -> tuple[str, type[CdssError]]:
    body = {"recorded_on": "2024-03-01", **fields}
    response = client_for(world.clinician).post(patient_url(world.patient.pk, "lifestyle/"), body, format="json")
    assert response.status_code == 400, response.content
    return response.json()["code"], _raised(lambda: record_input_parse(LIFESTYLE, body))


def _lifestyle_fhir(world: World, resource: dict[str, Any]) -> tuple[str, type[CdssError]]:
    resource = {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2024-03-01", **resource}
    document = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    url = patient_url(world.patient.pk, "import/") + "?dry_run=true"
    response = client_for(world.clinician).post(url, document, format="json")
    assert response.status_code == 200, response.content
    (error,) = response.json()["errors"]
    _, errors, _ = bundle_entries_map(bundle_parse(document), patient=world.patient)
    return error["code"], type(errors[0][1])


SMOKING = {"coding": [{"system": LOINC, "code": "72166-2"}]}
BMI = {"coding": [{"system": LOINC, "code": "39156-5"}]}

# The same lifestyle statement made in a record (API, FHIR component) and as a modifier:
# mistake -> (class, record fields, FHIR resource, modifiers); None where it cannot be made.
Body = dict[str, Any] | None
LIFESTYLE_MISTAKES: dict[str, tuple[type[CdssError], Body, Body, Body]] = {
    "unknown smoking status": (
        InvalidChoice,
        {"smoking_status": "sometimes"},
        {"code": SMOKING, "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}},
        {"smoking": "sometimes"},
    ),
    "BMI not a number": (NotANumber, {"bmi": "heavy"}, None, {"bmi_kg_m2": "heavy"}),
    "BMI out of range": (ImplausibleValue, {"bmi": 400}, None, {"bmi_kg_m2": 400}),
    # A unit the record does not accept: the class the laboratory entries give (table above).
    "BMI in another unit": (
        UnknownUnit, None, {"code": BMI, "valueQuantity": {"value": 30, "unit": "lb/in2"}}, None,
    ),
}


@pytest.mark.parametrize("mistake", list(LIFESTYLE_MISTAKES))
def test_a_lifestyle_mistake_has_the_same_class_and_code_as_in_the_modifiers(world: World, mistake: str) -> None:
    expected, record, fhir, modifiers = LIFESTYLE_MISTAKES[mistake]
    answers = []
    if record is not None:
        answers.append(_lifestyle_api(world, record))
    if fhir is not None:
        answers.append(_lifestyle_fhir(world, fhir))
    if modifiers is not None:
        answers.append(_modifiers(world, modifiers))
    assert answers == [(expected.code, expected)] * len(answers)

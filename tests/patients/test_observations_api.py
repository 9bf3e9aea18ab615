"""Laboratory observations through the REST API: conversion, validation, batches, reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cdss.audit.models import AuditAction, AuditOutcome
from patients.models import LabObservation
from patients.services.observations import OBSERVATION_BATCH_MAX
from patients.units import analyte_by_code, analytes, unit_to_canonical, units_accepted
from tests.conftest import World, client_for
from tests.patients.helpers import audit_entries, days_ago, observation, patient_url

pytestmark = pytest.mark.django_db

# (code, unit) for every unit the catalogue accepts: the paths the API converts through.
UNIT_PATHS = [(a.loinc, unit) for a in analytes() for unit in units_accepted(a.loinc)]


def _post(world: World, body: Any, user: Any = None) -> Any:
    return client_for(user or world.clinician).post(patient_url(world.patient.pk, "observations/"), body, format="json")


def _value_in_range(code: str, unit: str) -> float:
    """A mid-range value expressed in ``unit`` (so every unit's plausibility check passes)."""
    analyte = analyte_by_code(code)
    canonical_mid = (analyte.reference_low + analyte.reference_high) / 2 or 1.0
    factor = unit_to_canonical(code=code, value=1.0, unit=unit).value
    return round(canonical_mid / factor, 6)


def test_single_observation_is_stored_as_entered_and_canonical(world: World) -> None:
    response = _post(world, observation(code="1975-2", value=1.2, unit="mg/dL", specimen="serum"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["value"] == 1.2 and body["unit"] == "mg/dL"
    assert body["unit_canonical"] == "umol/L"
    assert body["value_canonical"] == pytest.approx(1.2 * 17.1)
    assert body["display_name"] == "Total bilirubin"
    stored = LabObservation.objects.get(pk=body["id"])
    assert stored.entered_by == world.clinician and stored.source == "manual" and stored.specimen == "serum"
    (entry,) = audit_entries(action=AuditAction.CREATE, object_type="observation")
    assert entry.patient_id == world.patient.pk and entry.object_id == str(stored.pk)
    assert "1.2" not in str(entry.detail)  # ids and codes only, never values


def test_every_accepted_unit_converts_in_and_back_out_through_the_api(world: World) -> None:
    rows = [
        observation(code=code, value=_value_in_range(code, unit), unit=unit, when=f"2024-01-01T00:00:{i % 60:02d}Z")
        for i, (code, unit) in enumerate(UNIT_PATHS)
    ]
    response = _post(world, {"observations": rows})
    assert response.status_code == 201, response.content
    created = response.json()["observations"]
    assert len(created) == len(UNIT_PATHS)
    client = client_for(world.clinician)
    for row, stored in zip(rows, created, strict=True):
        expected = unit_to_canonical(code=row["code"], value=row["value"], unit=row["unit"])
        assert stored["value_canonical"] == pytest.approx(expected.value, rel=1e-12)
        assert stored["unit_canonical"] == expected.unit
        # Back out in the unit it was entered in: the same number.
        series = client.get(
            patient_url(world.patient.pk, "observations/series/"),
            {"code": row["code"], "unit": row["unit"], "since": "2024-01-01T00:00:00Z", "until": "2024-01-01T00:01:00Z"},
        ).json()
        point = next(p for p in series["points"] if p["id"] == stored["id"])
        assert point["value"] == pytest.approx(row["value"], rel=1e-12), (row["code"], row["unit"])


@pytest.mark.parametrize(
    ("code", "value", "unit", "series_unit", "expected"),
    [
        ("1742-6", 60, "U/L", "ukat/L", 1.0),  # ALT
        ("1920-8", 1.5, "ukat/L", "U/L", 90.0),  # AST
        ("1975-2", 34.2, "umol/L", "mg/dL", 2.0),  # bilirubin
        ("1751-7", 35, "g/L", "g/dL", 3.5),  # albumin
        ("777-3", 150000, "/mm3", "10*9/L", 150.0),  # platelets
        ("2160-0", 1.0, "mg/dL", "umol/L", 88.4),  # creatinine
        ("2951-2", 138, "meq/L", "mmol/L", 138.0),  # sodium
        ("1834-1", 10, "kU/L", "ng/mL", 12.1),  # AFP
        ("6301-6", 1.3, "", "{INR}", 1.3),  # INR, unitless
    ],
)
def test_series_converts_to_the_chosen_unit(
    world: World, code: str, value: float, unit: str, series_unit: str, expected: float
) -> None:
    assert _post(world, observation(code=code, value=value, unit=unit)).status_code == 201
    response = client_for(world.consultant).get(
        patient_url(world.patient.pk, "observations/series/"), {"code": code, "unit": series_unit}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["unit"] == series_unit and body["code"] == code
    assert body["points"][0]["value"] == pytest.approx(expected)
    assert body["points"][0]["value_as_entered"] == value


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (observation(unit="mmol/L"), "unknown_unit", "unit"),
        (observation(unit="U/ml"), "unknown_unit", "unit"),
        (observation(code="9999-9"), "unknown_analyte", "code"),
        (observation(value=-5), "implausible_value", "value"),  # negative ALT
        (observation(code="1751-7", value=300, unit="g/L"), "implausible_value", "value"),  # albumin 300 g/L
        (observation(code="6301-6", value=0, unit="{INR}"), "implausible_value", "value"),  # INR 0
        (observation(when=days_ago(-1)), "future_date", "observed_at"),
        (observation(when="2024-02-30"), "invalid_date", "observed_at"),
        (observation(value="abc"), "not_a_number", "value"),
        (observation(value="NaN"), "not_a_number", "value"),
        (observation(value=True), "not_a_number", "value"),
        ({"code": "1742-6", "value": 1, "unit": "U/L"}, "missing_field", "observed_at"),
        (observation(code="1751-7", unit=""), "missing_field", "unit"),
        (observation(colour="red"), "unknown_field", "colour"),
        (observation(reference_low=50, reference_high=10), "inconsistent_values", "reference_low"),
        (observation(reference_low=-1), "implausible_value", "reference_low"),
    ],
)
def test_invalid_observation_is_rejected_with_a_stable_code(world: World, body: dict[str, Any], code: str, field: str) -> None:
    response = _post(world, body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == code, error
    assert error["detail"]["field"] == field
    assert not LabObservation.objects.exists()


def test_batch_is_all_or_nothing_and_reports_every_bad_row(world: World) -> None:
    rows = [
        observation(value=30),
        observation(value=-1),
        observation(code="1751-7", value=40, unit="g/L"),
        observation(unit="furlongs"),
        observation(when=days_ago(-3)),
    ]
    response = _post(world, {"observations": rows})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "batch_invalid"
    assert [(e["index"], e["code"], e["field"]) for e in body["detail"]["errors"]] == [
        (1, "implausible_value", "observations[1].value"),
        (3, "unknown_unit", "observations[3].unit"),
        (4, "future_date", "observations[4].observed_at"),
    ]
    assert not LabObservation.objects.exists()
    # Nothing saved: the refused request's own entry is a failure, no creation succeeded.
    assert not audit_entries(action=AuditAction.CREATE, outcome="success")


def test_batch_of_the_maximum_size_is_saved_in_one_go(world: World) -> None:
    base = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    rows = [observation(value=20 + i % 50, when=(base + dt.timedelta(hours=i)).isoformat()) for i in range(OBSERVATION_BATCH_MAX)]
    with CaptureQueriesContext(connection) as queries:
        response = _post(world, {"observations": rows})
    assert response.status_code == 201, response.content[:300]
    assert response.json()["count"] == OBSERVATION_BATCH_MAX
    assert LabObservation.objects.filter(patient=world.patient).count() == OBSERVATION_BATCH_MAX
    assert len(queries) < 30  # bulk insert, not one statement per row
    (entry,) = audit_entries(action=AuditAction.CREATE, object_type="observation_batch")
    assert entry.detail["count"] == OBSERVATION_BATCH_MAX


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"observations": [observation()] * (OBSERVATION_BATCH_MAX + 1)}, "batch_too_large"),
        ({"observations": []}, "batch_empty"),
        ({"observations": "ALT 42"}, "invalid_field"),
        ({"observations": [observation()], "note": "x"}, "unknown_field"),
    ],
)
def test_malformed_batches_are_rejected(world: World, body: dict[str, Any], code: str) -> None:
    response = _post(world, body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not LabObservation.objects.exists()


def test_list_filters_by_analyte_and_date_range_and_paginates(world: World) -> None:
    rows = [observation(value=10 + i, when=f"2024-01-{i + 1:02d}T12:00:00Z") for i in range(10)]
    rows += [observation(code="1751-7", value=40, unit="g/L", when="2024-01-05T12:00:00Z")]
    assert _post(world, {"observations": rows}).status_code == 201
    client = client_for(world.clinician)
    url = patient_url(world.patient.pk, "observations/")
    everything = client.get(url).json()
    assert everything["count"] == 11
    alt = client.get(url, {"code": "1742-6", "since": "2024-01-03", "until": "2024-01-06T23:59:59Z"}).json()
    assert [r["value"] for r in alt["results"]] == [15, 14, 13, 12]  # newest first
    paged = client.get(url, {"page_size": 4, "page": 2}).json()
    assert len(paged["results"]) == 4 and paged["next"] and paged["previous"]
    assert client.get(url, {"code": "0000-0"}).json()["code"] == "unknown_analyte"
    assert client.get(url, {"since": "yesterday"}).json()["code"] == "invalid_date"
    reads = audit_entries(action=AuditAction.READ, object_type="observation_list", patient_id=world.patient.pk)
    assert len(reads) == 3 and reads[1].detail == {"count": 4, "code": "1742-6"}


def test_latest_gives_one_observation_per_analyte(world: World) -> None:
    rows = [
        observation(value=30, when="2024-01-01T00:00:00Z"),
        observation(value=0.9, unit="ukat/L", when="2024-02-01T00:00:00Z"),
        observation(value=25, when="2023-12-01T00:00:00Z"),
        observation(code="6301-6", value=1.1, unit="", when="2024-01-15T00:00:00Z"),
    ]
    assert _post(world, {"observations": rows}).status_code == 201
    response = client_for(world.patient_user).get(patient_url(world.patient.pk, "observations/latest/"))
    assert response.status_code == 200
    latest = {row["code"]: row for row in response.json()}
    assert set(latest) == {"1742-6", "6301-6"}
    assert latest["1742-6"]["value"] == 0.9 and latest["1742-6"]["value_canonical"] == pytest.approx(54.0)
    assert latest["6301-6"]["unit_canonical"] == "{INR}"


@pytest.mark.parametrize(
    ("params", "code"),
    [({"unit": "U/L"}, "missing_field"), ({"code": "1742-6", "unit": "mg/dL"}, "unknown_unit"), ({"code": "x"}, "unknown_analyte")],
)
def test_series_rejects_bad_parameters(world: World, params: dict[str, str], code: str) -> None:
    response = client_for(world.clinician).get(patient_url(world.patient.pk, "observations/series/"), params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_series_defaults_to_the_canonical_unit_oldest_first(world: World) -> None:
    rows = [observation(value=v, unit="ukat/L", when=f"2024-0{m}-01T00:00:00Z") for m, v in ((3, 1.0), (1, 0.5), (2, 2.0))]
    assert _post(world, {"observations": rows}).status_code == 201
    body = client_for(world.clinician).get(patient_url(world.patient.pk, "observations/series/"), {"code": "1742-6"}).json()
    assert body["unit"] == "U/L" and body["truncated"] is False
    assert [p["value"] for p in body["points"]] == pytest.approx([30.0, 120.0, 60.0])
    (entry,) = audit_entries(action=AuditAction.READ, object_type="observation_series")
    assert entry.detail == {"code": "1742-6", "count": 3}


def test_writes_are_refused_to_readers_and_audited(world: World) -> None:
    response = _post(world, observation(), user=world.consultant)
    assert response.status_code == 403
    assert not LabObservation.objects.exists()
    (denied,) = audit_entries(outcome=AuditOutcome.DENIED)
    assert denied.actor_id == world.consultant.pk and denied.patient_id == world.patient.pk


def _query_count(client: Any, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(queries)


def test_series_query_count_does_not_grow_with_points(world: World) -> None:
    client = client_for(world.clinician)
    url = patient_url(world.patient.pk, "observations/series/")
    assert _post(world, observation(value=10, when="2023-01-01")).status_code == 201
    one = _query_count(client, url, {"code": "1742-6", "unit": "ukat/L"})
    rows = [observation(value=10 + i, when=f"2023-02-{1 + i % 28:02d}T{i % 24:02d}:00:00Z") for i in range(60)]
    assert _post(world, {"observations": rows}).status_code == 201
    many = _query_count(client, url, {"code": "1742-6", "unit": "ukat/L"})
    assert one == many


def test_list_latest_and_summary_query_counts_do_not_grow_with_rows(world: World) -> None:
    client = client_for(world.clinician)
    assert _post(world, observation()).status_code == 201
    urls = [patient_url(world.patient.pk, s) for s in ("observations/", "observations/latest/", "summary/")]
    before = [_query_count(client, url) for url in urls]
    rows = [
        observation(code=code, value=_value_in_range(code, unit), unit=unit, when=f"2022-0{1 + i % 9}-01")
        for i, (code, unit) in enumerate(UNIT_PATHS)
    ]
    assert _post(world, {"observations": rows}).status_code == 201
    after = [_query_count(client, url) for url in urls]
    assert before == after


@pytest.mark.parametrize(
    ("value", "comparator", "stored"),
    [("<5", None, ("<", 5.0)), ("> 2000", None, (">", 2000.0)), ("≤0.5", None, ("<=", 0.5)), (5, "<", ("<", 5.0))],
)
def test_censored_results_keep_their_comparator(
    world: World, value: Any, comparator: str | None, stored: tuple[str, float]
) -> None:
    body = observation(code="1834-1", value=value, unit="ng/mL")
    if comparator is not None:
        body["comparator"] = comparator
    response = _post(world, body)
    assert response.status_code == 201, response.content
    assert (response.json()["comparator"], response.json()["value"]) == stored
    saved = LabObservation.objects.get(pk=response.json()["id"])
    assert (saved.comparator, saved.value, saved.value_canonical) == (stored[0], stored[1], stored[1])


def test_a_contradictory_comparator_is_refused(world: World) -> None:
    response = _post(world, {**observation(code="1834-1", value="<5", unit="ng/mL"), "comparator": ">"})
    assert response.status_code == 400 and response.json()["code"] == "inconsistent_values"
    response = _post(world, {**observation(code="1834-1", value=5, unit="ng/mL"), "comparator": "~"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_choice"
    assert not LabObservation.objects.exists()


def test_a_value_typical_only_in_another_unit_gets_a_did_you_mean_hint(world: World) -> None:
    response = _post(world, observation(code="1751-7", value=3.5, unit="g/L"))
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "unit_suspect" and error["detail"]["field"] == "unit"
    assert error["detail"]["suggested_units"] == ["g/dL"] and "did you mean g/dL?" in error["message"]
    # An impossible value that fits another unit gets the same hint rather than "implausible".
    response = _post(world, observation(code="1751-7", value=35, unit="g/dL"))
    assert response.json()["code"] == "unit_suspect" and response.json()["detail"]["suggested_units"] == ["g/L"]
    assert not LabObservation.objects.exists()
    # The clinician confirms an unusual but real value.
    confirmed = _post(world, {**observation(code="1751-7", value=8, unit="g/L"), "unit_confirmed": True})
    assert confirmed.status_code == 201, confirmed.content


def test_afp_l3_and_dcp_are_catalogued_analytes(world: World) -> None:
    for code, value, unit in (("42332-7", 12.5, "%"), ("34444-0", 40, "ng/mL")):
        response = _post(world, observation(code=code, value=value, unit=unit))
        assert response.status_code == 201, response.content
    names = {row["code"]: row for row in client_for(world.clinician).get("/api/v1/analytes/").json()}
    assert names["42332-7"]["canonical_unit"] == "%" and "PIVKA-II" in names["34444-0"]["display_name"]
    refused = _post(world, observation(code="34444-0", value=40, unit="mAU/mL"))
    assert refused.json()["code"] == "unknown_unit"  # no fixed factor between DCP assays: never guessed


def test_series_points_carry_the_comparator(world: World) -> None:
    assert _post(world, observation(code="1834-1", value="<5", unit="ng/mL", when="2024-03-01")).status_code == 201
    assert _post(world, observation(code="1834-1", value=12, unit="ng/mL", when="2024-03-02")).status_code == 201
    series = client_for(world.clinician).get(
        patient_url(world.patient.pk, "observations/series/"), {"code": "1834-1", "unit": "kU/L"}
    ).json()
    assert [(p["comparator"], round(p["value"], 3)) for p in series["points"]] == [("<", round(5 / 1.21, 3)), ("", round(12 / 1.21, 3))]

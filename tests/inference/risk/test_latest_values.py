"""The one "latest value" selector: per analyte (``observation_latest``) and per record field
(``record_latest``), and the scores reading the record through it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from inference.risk.patient_scores import patient_score_request
from patients.models import LabObservation, Patient
from patients.record_kinds import FINDINGS, GENETICS, LIFESTYLE
from patients.selectors.observations import observation_latest
from patients.selectors.records import record_latest
from patients.services.observations import observation_input_parse, observations_save
from patients.services.records import record_create
from tests.conftest import World

pytestmark = pytest.mark.django_db

AS_OF = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


def _store(patient: Patient, *rows: dict[str, Any]) -> list[LabObservation]:
    inputs = [observation_input_parse({"unit_confirmed": True, **row}) for row in rows]
    return observations_save(actor=None, patient=patient, inputs=inputs, source="manual")


def _reference(patient: Patient, since: dt.datetime, until: dt.datetime) -> dict[str, int]:
    """What "latest" means, written out: per code, the greatest (time taken, id) in the window."""
    best: dict[str, LabObservation] = {}
    for row in LabObservation.objects.filter(patient=patient):
        if since <= row.observed_at <= until:
            current = best.get(row.code)
            if current is None or (row.observed_at, row.pk) > (current.observed_at, current.pk):
                best[row.code] = row
    return {code: row.pk for code, row in best.items()}


def _scored(patient: Patient, *, as_of: dt.datetime, window_days: int) -> dict[str, dict[str, Any]]:
    body = patient_score_request(patient=patient, as_of=as_of, window_days=window_days)
    return {entry["code"]: entry for entry in body["observations"]}


def test_edge_cases_agree_with_the_written_out_rule_and_the_scores(world: World) -> None:
    patient = world.patient
    stored = _store(
        patient,
        # A tie on the timestamp: the one stored last wins.
        {"code": "1742-6", "value": 30, "unit": "U/L", "observed_at": "2024-05-20T08:00:00Z"},
        {"code": "1742-6", "value": 45, "unit": "U/L", "observed_at": "2024-05-20T08:00:00Z"},
        # The same analyte in two units: one analyte, the newer wins, read in the canonical unit.
        {"code": "1975-2", "value": 1.0, "unit": "mg/dL", "observed_at": "2024-05-01T08:00:00Z"},
        {"code": "1975-2", "value": 34.2, "unit": "umol/L", "observed_at": "2024-05-25T08:00:00Z"},
        # A censored result is a result: it is the latest, with its comparator.
        {"code": "1834-1", "value": 12, "unit": "ng/mL", "observed_at": "2024-05-10T08:00:00Z"},
        {"code": "1834-1", "value": "<5", "unit": "ng/mL", "observed_at": "2024-05-30T08:00:00Z"},
        # After the as-of time (ignored for a past evaluation) and before the window.
        {"code": "1751-7", "value": 35, "unit": "g/L", "observed_at": "2024-05-15T08:00:00Z"},
        {"code": "1751-7", "value": 28, "unit": "g/L", "observed_at": "2024-06-01T12:00:01Z"},
        {"code": "2160-0", "value": 1.1, "unit": "mg/dL", "observed_at": "2023-01-01T08:00:00Z"},
    )
    ids = {(row.code, row.value): row.pk for row in stored}
    since = AS_OF - dt.timedelta(days=90)
    latest = observation_latest(patient=patient, since=since, until=AS_OF)
    by_code = {row.code: row for row in latest}
    assert {code: row.pk for code, row in by_code.items()} == _reference(patient, since, AS_OF)
    assert by_code["1742-6"].pk == ids[("1742-6", 45)]
    assert by_code["1975-2"].pk == ids[("1975-2", 34.2)] and by_code["1975-2"].unit_canonical == "umol/L"
    assert by_code["1834-1"].comparator == "<" and by_code["1834-1"].value == 5
    assert by_code["1751-7"].pk == ids[("1751-7", 35)]
    assert "2160-0" not in by_code

    scored = _scored(patient, as_of=AS_OF, window_days=90)
    assert set(scored) == set(by_code)
    for code, row in by_code.items():
        assert scored[code]["value"] == row.value_canonical and scored[code]["date"] == row.observed_at.isoformat()
    assert scored["1834-1"]["comparator"] == "<" and "comparator" not in scored["1742-6"]

    # With no window the selector sees everything up to now: the newer albumin and the old creatinine.
    everything = {row.code: row for row in observation_latest(patient=patient)}
    assert everything["1751-7"].pk == ids[("1751-7", 28)] and "2160-0" in everything


def test_record_fields_take_the_newest_statement_up_to_the_as_of_date(world: World) -> None:
    patient = world.patient
    for assessed_on, fields in (
        ("2024-04-01", {"ascites": "none", "hcv_status": "chronic"}),
        ("2024-05-01", {"ascites": "slight"}),
        ("2024-05-01", {"ascites": "moderate_severe", "encephalopathy": "none"}),  # same date: stored last wins
        ("2024-07-01", {"ascites": "none", "hcv_status": "cleared"}),  # after the as-of date
    ):
        record_create(FINDINGS, actor=world.clinician, patient=patient, data={"assessed_on": assessed_on, **fields})
    latest = record_latest(FINDINGS, patient=patient, since=dt.date(2024, 3, 1), until=AS_OF.date())
    assert latest["ascites"] is not None and latest["ascites"].value == "moderate_severe"
    assert latest["hcv_status"] is not None and latest["hcv_status"].value == "chronic"
    assert latest["hcv_status"].date == dt.date(2024, 4, 1)
    assert latest["ecog_ps"] is None

    body = patient_score_request(patient=patient, as_of=AS_OF, window_days=90)
    assert body["findings"]["ascites"] == "moderate_severe" and body["findings"]["encephalopathy"] == "none"
    assert body["_finding_dates"]["ascites"] == "2024-05-01"
    assert body["modifiers"]["hcv"] is True and body["_population"]["hcv_status"] == "chronic"
    today = patient_score_request(patient=patient, window_days=3650)
    assert today["findings"]["ascites"] == "none" and today["modifiers"]["hcv"] is False


def test_lifestyle_and_genetics_after_the_as_of_date_stay_out_of_a_past_evaluation(world: World) -> None:
    patient = world.patient
    for recorded_on, smoking in (("2024-05-01", "former"), ("2024-07-01", "current")):
        record_create(LIFESTYLE, actor=world.clinician, patient=patient,
                      data={"recorded_on": recorded_on, "smoking_status": smoking, "bmi": 31.0})
    record_create(GENETICS, actor=world.clinician, patient=patient,
                  data={"gene": "PNPLA3", "rsid": "rs738409", "genotype": "G/G", "reported_on": "2024-08-01"})
    past = patient_score_request(patient=patient, as_of=AS_OF, window_days=90)["modifiers"]
    assert past == {"smoking": "former", "bmi_kg_m2": 31.0}
    today = patient_score_request(patient=patient, window_days=3650)["modifiers"]
    assert today["smoking"] == "current" and today["pnpla3_rs738409"] == "GG"

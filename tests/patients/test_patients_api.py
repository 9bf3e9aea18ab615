"""Patient search and pagination, query counts, and record.changed events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cdss.audit.models import AuditAction
from inference.events import patient_group
from tests.conftest import World, client_for
from tests.factories import PatientFactory
from tests.patients.helpers import audit_entries, observation, patient_url

pytestmark = pytest.mark.django_db

LIST = "/api/v1/patients/"


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_search_by_name_mrn_and_birth_date(world: World) -> None:
    team = world.patient.care_team
    ada = PatientFactory.create(given_name="Ada", family_name="Lovelace", mrn="MRN-ADA-1", birth_date=dt.date(1815, 12, 10), care_team=team)
    grace = PatientFactory.create(given_name="Grace", family_name="Hopper", mrn="MRN-GH-2", birth_date=dt.date(1906, 12, 9), care_team=team)
    client = client_for(world.clinician)
    assert _ids(client.get(LIST, {"q": "lovel"})) == [ada.pk]
    assert _ids(client.get(LIST, {"q": "grace hop"})) == [grace.pk]
    assert _ids(client.get(LIST, {"q": "mrn-gh-2"})) == [grace.pk]
    assert _ids(client.get(LIST, {"q": "MRN-GH"})) == []  # MRNs match exactly
    assert _ids(client.get(LIST, {"birth_date": "1906-12-09"})) == [grace.pk]
    # Scope first: another team's patient is never found by search.
    assert _ids(client_for(world.other_clinician).get(LIST, {"q": "lovelace"})) == []
    bad = client.get(LIST, {"birth_date": "9/12/1906"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_date"


def test_pagination_pages_through_every_patient_once(world: World) -> None:
    for _ in range(11):
        PatientFactory.create(care_team=world.patient.care_team)
    client = client_for(world.clinician)
    first = client.get(LIST, {"page_size": 5}).json()
    assert first["count"] == 12 and len(first["results"]) == 5 and first["next"]
    seen = [row["id"] for page in (1, 2, 3) for row in client.get(LIST, {"page_size": 5, "page": page}).json()["results"]]
    assert len(seen) == len(set(seen)) == 12
    assert client.get(LIST, {"page": 9}).status_code == 404
    reads = audit_entries(action=AuditAction.READ, object_type="patient_list")
    assert reads[0].detail["count"] == 5 and len(reads[0].detail["patient_ids"]) == 5


def test_patient_list_query_count_does_not_grow_with_rows(world: World) -> None:
    client = client_for(world.admin)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(40):
        PatientFactory.create(care_team=world.patient.care_team)
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST)
    assert len(response.json()["results"]) == 42
    assert len(few) == len(many)


def test_contact_address_is_kept(world: World) -> None:
    body = {"address_line": "1 Example Street", "city": "Leeds", "postal_code": "LS1 1AA", "country": "GB"}
    response = client_for(world.clinician).patch(patient_url(world.patient.pk), body, format="json")
    assert response.status_code == 200
    assert {k: response.json()[k] for k in body} == body
    exported = client_for(world.clinician).get(patient_url(world.patient.pk, "fhir/")).json()
    assert exported["entry"][0]["resource"]["address"] == [
        {"line": ["1 Example Street"], "city": "Leeds", "postalCode": "LS1 1AA", "country": "GB"}
    ]


def test_analyte_catalogue_lists_accepted_units(world: World) -> None:
    response = client_for(world.patient_user).get("/api/v1/analytes/")
    assert response.status_code == 200
    by_code = {a["code"]: a for a in response.json()}
    for code in ("1742-6", "1920-8", "1975-2", "1751-7", "777-3", "6301-6", "2160-0", "2951-2", "1834-1", "6768-6", "2324-2"):
        assert code in by_code
    assert by_code["1975-2"]["canonical_unit"] == "umol/L" and "mg/dL" in by_code["1975-2"]["units"]
    assert by_code["1751-7"]["plausible"]["max"] >= 60
    # The factors the server converts with, so a form can preview a conversion.
    bilirubin = {c["unit"]: c for c in by_code["1975-2"]["conversions"]}
    assert bilirubin["mg/dL"]["factor"] == pytest.approx(17.104, rel=1e-3) and bilirubin["umol/L"]["factor"] == 1.0
    assert [c["unit"] for c in by_code["1975-2"]["conversions"]] == by_code["1975-2"]["units"]


@override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
def test_writes_publish_record_changed_with_ids_only(world: World, django_capture_on_commit_callbacks: Any) -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(patient_group(world.patient.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(world.clinician).post(
            patient_url(world.patient.pk, "observations/"), observation(value=77), format="json"
        )
    assert response.status_code == 201
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == {
        "type": "record.changed", "patient_id": world.patient.pk, "record": "observation",
        "action": "created", "ids": [response.json()["id"]],
    }


def test_hand_built_rows_equal_drfs_generic_rendering(world: World) -> None:
    """The fast ``to_representation`` of the busiest serializers must match DRF field for field."""
    from rest_framework import serializers as drf

    from patients.api.serializers import ObservationSerializer, PatientSerializer, SeriesSerializer
    from patients.models import LabObservation, Patient
    from patients.selectors import observation_series

    client = client_for(world.clinician)
    client.patch(patient_url(world.patient.pk), {"phone": "+44 113 496 0000", "city": "Leeds"}, format="json")
    client.post(patient_url(world.patient.pk, "observations/"), observation(specimen="serum", reference_low=7, reference_high=56), format="json")
    patient = Patient.objects.get(pk=world.patient.pk)
    request = type("R", (), {"user": world.clinician})()
    fast = PatientSerializer(patient, context={"request": request})
    assert fast.to_representation(patient) == drf.ModelSerializer.to_representation(fast, patient)
    stored = LabObservation.objects.get()
    fast_obs = ObservationSerializer(stored)
    assert fast_obs.to_representation(stored) == drf.ModelSerializer.to_representation(fast_obs, stored)
    series = observation_series(patient=patient, code="1742-6", unit="ukat/L")
    fast_series = SeriesSerializer(series)
    assert fast_series.to_representation(series) == drf.Serializer.to_representation(fast_series, series)

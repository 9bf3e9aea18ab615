"""SMART App Launch against the simulator: EHR launch, standalone launch, refusals, and the
session narrowed to the launched patient."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.test import Client

from cdss.audit.models import AuditEvent
from interop.sim.server import EhrSimulator
from tests.conftest import World
from tests.interop.conftest import register

CALLBACK = "http://testserver/smart/callback"


def _launch(client: Client, sim: EhrSimulator, *, launch: str | None) -> Any:
    """Follow the launch through the simulator's authorization server back to the callback."""
    query = {"iss": sim.fhir_base, **({"launch": launch} if launch else {})}
    to_ehr = client.get("/smart/launch", query)
    assert to_ehr.status_code == 302, to_ehr.content
    authorize = to_ehr["Location"]
    params = parse_qs(urlsplit(authorize).query)
    assert params["code_challenge_method"] == ["S256"] and params["aud"] == [sim.fhir_base]
    back = requests.get(authorize, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    assert target.path == "/smart/callback"
    return client.get(target.path, {k: v[0] for k, v in parse_qs(target.query).items()})


def _ehr_launch_id(sim: EhrSimulator, patient: str = "ehr-7", user: str = "Practitioner/1", app_context: str = "") -> str:
    params = {"patient": patient, "user": user, "app": "http://testserver/smart/launch", "appContext": app_context}
    response = requests.get(f"{sim.base}/ehr/launch", params=params, allow_redirects=False, timeout=5)
    return parse_qs(urlsplit(response.headers["Location"]).query)["launch"][0]


def test_ehr_launch_opens_the_portal_on_the_launched_patient_only(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri=CALLBACK)
    client = Client()
    response = _launch(client, sim, launch=_ehr_launch_id(sim))
    assert response.status_code == 302 and response["Location"] == f"/patients/{world.patient.pk}"
    context = client.get("/smart/context").json()
    assert context == {"linked": True, "patient_id": world.patient.pk, "ehr_name": "Simulated EHR", "ehr_patient": "Patient/ehr-7",
                       "ehr_patient_name": "Alex Example", "ehr_mrn": world.patient.mrn}
    assert client.get(f"/api/v1/patients/{world.patient.pk}/").status_code == 200
    # Another patient: refused in this session, even one the clinician may otherwise see.
    from tests.factories import PatientFactory

    same_team = PatientFactory.create(care_team=world.patient.care_team)
    refused = client.get(f"/api/v1/patients/{same_team.pk}/")
    assert refused.status_code == 403 and refused.json()["code"] == "ehr_context_restricted"
    assert client.get(f"/patients/{same_team.pk}").status_code == 403
    assert client.get("/api/v1/patients/").status_code == 403
    assert client.get("/api/v1/analyses/", {"patient": same_team.pk}).status_code == 403
    assert client.get(f"/api/v1/patients/{world.other_patient.pk}/").status_code == 403
    # The FHIR API in this session: the launched patient only.
    assert client.get("/fhir/ImagingStudy", {"patient": same_team.pk}).status_code == 403
    from imaging.models import ImagingStudy

    ImagingStudy.objects.create(patient=same_team, study_instance_uid="1.2.3.4.5", link_source="upload")
    assert client.get("/fhir/ImagingStudy").json()["total"] == 0  # the same-team patient's study is not listed
    assert client.get("/fhir/metadata").status_code == 200
    assert AuditEvent.objects.filter(object_type="smart_launch", outcome="success", patient_id=world.patient.pk).exists()
    assert AuditEvent.objects.filter(object_type="ehr_context", outcome="denied").count() >= 4


def test_standalone_launch(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri=CALLBACK)
    client = Client()
    response = _launch(client, sim, launch=None)
    assert response.status_code == 302 and response["Location"] == f"/patients/{world.patient.pk}"


def test_unmapped_ehr_user_is_refused(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri=CALLBACK)
    response = _launch(Client(), sim, launch=_ehr_launch_id(sim, user="Practitioner/99"))
    assert response.status_code == 403
    assert AuditEvent.objects.filter(object_type="smart_launch", outcome="denied").exists()


def test_patient_the_user_may_not_see_is_refused(world: World, sim: EhrSimulator) -> None:
    registration = register(sim, world=world, redirect_uri=CALLBACK)
    registration.user_links.update(user=world.other_clinician)
    response = _launch(Client(), sim, launch=_ehr_launch_id(sim))
    assert response.status_code == 404


def test_unregistered_iss_and_replayed_state_are_refused(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri=CALLBACK)
    assert Client().get("/smart/launch", {"iss": "http://127.0.0.1:1/fhir"}).status_code == 400
    assert Client().get("/smart/callback", {"code": "x", "state": "never-issued"}).status_code == 400


def test_context_for_an_ordinary_session(world: World) -> None:
    client = Client()
    client.force_login(world.clinician)
    assert client.get("/smart/context").json() == {"linked": False}


def test_card_link_app_context_opens_the_report(world: World, sim: EhrSimulator) -> None:
    from tests.interop.conftest import signed_report

    register(sim, world=world, redirect_uri=CALLBACK)
    report = signed_report(world)
    response = _launch(Client(), sim, launch=_ehr_launch_id(sim, app_context=f"patient={world.patient.pk}&report={report.pk}"))
    assert response.status_code == 302 and response["Location"] == f"/reports/{report.pk}"
    # A report of another patient named in appContext is ignored: the patient page opens.
    response = _launch(Client(), sim, launch=_ehr_launch_id(sim, app_context="report=999999"))
    assert response["Location"] == f"/patients/{world.patient.pk}"


def test_sim_register_command(world: World, sim: EhrSimulator) -> None:
    from django.core.management import call_command

    from interop.models import EhrRegistration

    call_command("interop_sim_register", "--sim", sim.base, "--user", world.clinician.username)
    call_command("interop_sim_register", "--sim", sim.base, "--user", world.clinician.username)  # idempotent
    registration = EhrRegistration.objects.get(iss=sim.fhir_base)
    assert registration.cds_jwks == sim.jwks and registration.user_links.get().user == world.clinician

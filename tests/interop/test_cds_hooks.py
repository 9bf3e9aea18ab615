"""CDS Hooks 2.0: discovery, patient-view with and without prefetch, errors, audit."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import jsonschema
import pytest
from django.test import Client
from django.utils import timezone

from cdss.audit.models import AuditEvent
from interop.sim.server import EhrSimulator
from tests.conftest import World
from tests.interop.conftest import SCHEMAS, register, signed_report

URL = "/cds-services/liver-patient-view"
AUDIENCE = f"http://testserver{URL}"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def _body(sim: EhrSimulator, *, prefetch: bool, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": sim.fhir_base,
        "context": {"userId": "Practitioner/1", "patientId": "ehr-7"},
    }
    if prefetch:
        body["prefetch"] = sim.prefetch("ehr-7")
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "cdss"}
    return body


def _post(sim: EhrSimulator, body: Any, *, signed: bool = True) -> Any:
    headers = {"Authorization": f"Bearer {sim.hook_jwt(AUDIENCE)}"} if signed else {}
    return Client().post(URL, json.dumps(body), content_type="application/json", headers=headers)


def test_discovery_lists_the_service_with_prefetch_templates(db: Any) -> None:
    response = Client().get("/cds-services")
    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, _schema("cds-hooks-2.0-discovery.schema.json"))
    assert [s["hook"] for s in body["services"]] == ["patient-view", "order-select"]
    service = body["services"][0]
    assert service["hook"] == "patient-view" and service["id"] == "liver-patient-view"
    assert set(service["prefetch"]) == {"patient", "liverLabs", "conditions", "imaging"}
    assert "http://loinc.org|1975-2" in service["prefetch"]["liverLabs"]
    assert response["Access-Control-Allow-Origin"] == "*"


def _by_summary(cards: list[dict[str, Any]], start: str) -> dict[str, Any]:
    return next(c for c in cards if c["summary"].startswith(start))


def test_patient_view_from_prefetch(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    report = signed_report(world)
    _post(sim, _body(sim, prefetch=True))  # the first call of a process loads the FHIR models
    seen = len(sim.requests_seen)
    response = _post(sim, _body(sim, prefetch=True))
    assert response.status_code == 200, response.content
    cards = response.json()["cards"]
    jsonschema.validate(response.json(), _schema("cds-hooks-2.0-response.schema.json"))
    assert len(sim.requests_seen) == seen  # nothing fetched: all came prefetched
    meld = _by_summary(cards, "MELD 3.0")
    assert meld["summary"] == "MELD 3.0: 19" and meld["indicator"] == "warning"
    assert "bilirubin_total: 2.0 mg/dL" in meld["detail"] and "Kim WR" in meld["detail"]  # inputs, dates, citation
    assert meld["suggestions"][0]["actions"][0]["resource"]["subject"]["reference"] == "Patient/ehr-7"
    assert _by_summary(cards, "ALBI")["summary"].startswith("ALBI: -1.54, grade 2")
    assert _by_summary(cards, "Child-Pugh")["summary"] == "Child-Pugh: not computable (lacks ascites, encephalopathy)"
    hcc = _by_summary(cards, "HCC surveillance due")
    assert "AASLD" in hcc["source"]["label"] and "Hepatology 2023" in hcc["detail"]
    signed = _by_summary(cards, "Signed liver decision-support report")
    assert signed["links"][0]["type"] == "smart" and f"report={report.pk}" in signed["links"][0]["appContext"]
    assert all(c["source"]["label"] for c in cards)
    entry = AuditEvent.objects.filter(object_type="cds_hook").latest("id")
    assert entry.patient_id == world.patient.pk and entry.outcome == "success"


def test_patient_view_fetches_what_was_not_prefetched(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    token = sim.access_token(patient_id="ehr-7")
    body = _body(sim, prefetch=True, token=token)
    del body["prefetch"]["liverLabs"]
    del body["prefetch"]["patient"]
    response = _post(sim, body)
    assert response.status_code == 200, response.content
    assert sorted(p for p in sim.requests_seen if "/fhir/" in p) == ["GET /fhir/Observation", "GET /fhir/Patient/ehr-7"]
    cards = response.json()["cards"]
    jsonschema.validate(response.json(), _schema("cds-hooks-2.0-response.schema.json"))
    assert _by_summary(cards, "MELD 3.0")["summary"] == "MELD 3.0: 19"


def test_patient_view_without_any_prefetch(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    response = _post(sim, _body(sim, prefetch=False, token=sim.access_token(patient_id="ehr-7")))
    assert response.status_code == 200, response.content
    jsonschema.validate(response.json(), _schema("cds-hooks-2.0-response.schema.json"))
    assert len([p for p in sim.requests_seen if "/fhir/" in p]) == 4
    assert AuditEvent.objects.filter(object_type="cds_hook").latest("id").detail["fetched"] == ["patient", "liverLabs", "conditions", "imaging"]


def test_missing_prefetch_and_no_token_is_412(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    response = _post(sim, _body(sim, prefetch=False))
    assert response.status_code == 412
    assert response.json()["code"] == "prefetch_unavailable"
    entry = AuditEvent.objects.filter(object_type="cds_hook").latest("id")
    assert entry.outcome == "failed"


def test_fhir_server_refusing_the_token_is_412(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    response = _post(sim, _body(sim, prefetch=False, token="not-a-token"))
    assert response.status_code == 412


@pytest.mark.parametrize("mutate", [
    lambda b: b.pop("context"),
    lambda b: b.update(hook="order-sign"),
    lambda b: b.update(hookInstance="nope"),
    lambda b: b["context"].pop("patientId"),
    lambda b: b.update(fhirAuthorization={"access_token": 1}),
    lambda b: b["prefetch"].update(liverLabs={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Observation"}}]}),
])
def test_bad_requests_are_400(world: World, sim: EhrSimulator, mutate: Any) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    body = _body(sim, prefetch=True)
    mutate(body)
    response = _post(sim, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid_hook_request", "invalid_fhir_data")


def test_unsigned_or_unknown_caller_is_401(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    assert _post(sim, _body(sim, prefetch=True), signed=False).status_code == 401
    other = EhrSimulator()  # same issuer URL shape, a key the registration does not hold
    forged = other.hook_jwt(AUDIENCE)
    response = Client().post(URL, json.dumps(_body(sim, prefetch=True)), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    wrong_audience = Client().post(URL, json.dumps(_body(sim, prefetch=True)), content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {sim.hook_jwt('http://elsewhere/cds-services/x')}")
    assert wrong_audience.status_code == 401


def test_local_cards_need_a_mapped_user_who_may_see_the_patient(world: World, sim: EhrSimulator) -> None:
    registration = register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    signed_report(world)
    registration.user_links.update(user=world.other_clinician)  # a clinician of another team
    cards = _post(sim, _body(sim, prefetch=True)).json()["cards"]
    assert not [c for c in cards if c["summary"].startswith(("Signed", "AI findings"))]
    assert _by_summary(cards, "MELD 3.0")  # the EHR's own data still gives its scores


def test_ai_findings_awaiting_review_card(world: World, sim: EhrSimulator) -> None:
    from inference.models import AnalysisRequest, ImagingFinding

    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    analysis = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician, idempotency_key="f", status="succeeded")
    ImagingFinding.objects.create(analysis=analysis, patient=world.patient, kind="lesion", step_key="imaging:x:", source_ref="lesion:1",
                                  label="liver_lesion", model_key="liver_seg", model_version="1.2.0", proposed={}, values={})
    cards = _post(sim, _body(sim, prefetch=True)).json()["cards"]
    card = _by_summary(cards, "AI findings awaiting review: 1")
    assert "liver_seg 1.2.0" in card["detail"] and "not replaces" in card["detail"]
    assert card["links"][0]["appContext"].endswith("view=findings")


def test_child_pugh_takes_the_grades_from_the_local_record(world: World, sim: EhrSimulator) -> None:
    from patients.models import ClinicalFinding

    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    ClinicalFinding.objects.create(patient=world.patient, assessed_on=timezone.localdate(), ascites="slight", encephalopathy="none")
    card = _by_summary(_post(sim, _body(sim, prefetch=True)).json()["cards"], "Child-Pugh")
    assert card["summary"] == "Child-Pugh: 8, class B" and card["indicator"] == "warning"
    assert f"ascites: slight ({timezone.localdate().isoformat()})" in card["detail"]
    assert "clinical findings from the CDSS record" in card["detail"]


def test_recent_liver_imaging_means_no_surveillance_card(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    body = _body(sim, prefetch=True)
    body["prefetch"]["imaging"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "ImagingStudy", "id": "us1", "status": "available", "subject": {"reference": "Patient/ehr-7"},
        "started": (timezone.now() - dt.timedelta(days=30)).isoformat(),
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "US"}]}}]}
    cards = _post(sim, body).json()["cards"]
    assert not [c for c in cards if c["summary"].startswith("HCC surveillance")]
    body["prefetch"]["conditions"] = None  # the EHR found no Condition at all
    body["prefetch"]["imaging"] = None
    assert not [c for c in _post(sim, body).json()["cards"] if c["summary"].startswith("HCC surveillance")]


def test_feedback_is_audited(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    url = f"{URL}/feedback"
    headers = {"Authorization": f"Bearer {sim.hook_jwt(f'http://testserver{url}')}"}
    body = {"feedback": [{"card": "abc", "outcome": "overridden", "outcomeTimestamp": "2026-12-07T10:00:00Z",
                          "overrideReason": {"reason": {"code": "not-relevant", "system": "urn:x"}}}]}
    response = Client().post(url, json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 200
    entry = AuditEvent.objects.get(object_type="cds_feedback")
    assert entry.object_id == "abc" and entry.detail["override"] == "not-relevant"
    bad = Client().post(url, json.dumps({"feedback": [{"card": "abc", "outcome": "maybe"}]}), content_type="application/json",
                        headers={"Authorization": f"Bearer {sim.hook_jwt(f'http://testserver{url}')}"})
    assert bad.status_code == 400
    assert Client().post(url, json.dumps(body), content_type="application/json").status_code == 401


ORDER_URL = "/cds-services/liver-imaging-order-select"


def _order_body(sim: EhrSimulator, text: str, *, prefetch: bool = True) -> dict[str, Any]:
    draft = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
        "resourceType": "ServiceRequest", "id": "sr1", "status": "draft", "intent": "order",
        "code": {"text": text}, "subject": {"reference": "Patient/ehr-7"}}}]}
    body: dict[str, Any] = {
        "hook": "order-select", "hookInstance": str(uuid.uuid4()), "fhirServer": sim.fhir_base,
        "context": {"userId": "Practitioner/1", "patientId": "ehr-7", "selections": ["ServiceRequest/sr1"], "draftOrders": draft},
    }
    if prefetch:
        body["prefetch"] = {"conditions": sim.prefetch("ehr-7")["conditions"]}
    return body


def _post_order(sim: EhrSimulator, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {sim.hook_jwt(f'http://testserver{ORDER_URL}')}"}
    return Client().post(ORDER_URL, json.dumps(body), content_type="application/json", headers=headers)


def test_order_select_recommends_a_multiphase_protocol(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    response = _post_order(sim, _order_body(sim, "CT abdomen with contrast"))
    assert response.status_code == 200, response.content
    jsonschema.validate(response.json(), _schema("cds-hooks-2.0-response.schema.json"))
    (card,) = response.json()["cards"]
    assert "multiphase" in card["summary"] and "LI-RADS" in card["source"]["label"]
    # Fetched when not prefetched.
    body = _order_body(sim, "MRI liver", prefetch=False)
    body["fhirAuthorization"] = {"access_token": sim.access_token(patient_id="ehr-7"), "token_type": "Bearer"}
    assert len(_post_order(sim, body).json()["cards"]) == 1
    # Not an abdominal CT/MRI: no card.
    assert _post_order(sim, _order_body(sim, "Chest X-ray")).json()["cards"] == []


def test_order_select_needs_selections(world: World, sim: EhrSimulator) -> None:
    register(sim, world=world, redirect_uri="http://testserver/smart/callback")
    body = _order_body(sim, "CT abdomen")
    del body["context"]["selections"]
    assert _post_order(sim, body).status_code == 400
    body = _order_body(sim, "CT abdomen")
    body["hook"] = "patient-view"
    assert _post_order(sim, body).status_code == 400

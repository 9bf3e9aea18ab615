"""Every known crash input of the outside probe answers 4xx JSON with a code and a request id,
through the whole middleware stack, with DEBUG off and on (the demo runs with DEBUG on)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from cdss.audit.models import AuditEvent, AuditOutcome
from tests.conftest import World

HUGE = "99999999999999999999"
EDGE_DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _client(world: World, *, user: Any = "clinician", **kwargs: Any) -> Client:
    client = Client(raise_request_exception=False, **kwargs)
    if user is not None:
        client.force_login(getattr(world, user))
    return client


def assert_json_error(response: Any, status: int | tuple[int, ...], code: str | None = None) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert {"code", "message", "detail", "request_id"} <= set(body), body
    assert body["request_id"] == response["X-Request-ID"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request: Any) -> Any:
    with override_settings(DEBUG=request.param):
        yield request.param


def test_huge_patient_id_in_url_is_404_and_the_denial_is_audited(world: World, debug: bool) -> None:
    response = _client(world).get(f"/api/v1/patients/{HUGE}/")
    assert_json_error(response, 404, "not_found")
    entry = AuditEvent.objects.get(object_type="patient", object_id=HUGE)
    assert entry.outcome == AuditOutcome.DENIED
    assert entry.actor_id == world.clinician.pk
    assert entry.patient_id is None


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/patients/{HUGE}/observations/",
        f"/api/v1/patients/{HUGE}/scores/",
        f"/api/v1/patients/{HUGE}/reports/",
        f"/api/v1/patients/{HUGE}/imaging/studies/",
        f"/api/v1/analyses/{HUGE}/",
        f"/api/v1/reports/{HUGE}/",
        f"/api/v1/reports/{HUGE}/export/pdf/",
        "/api/v1/patients/{patient}/genetics/" + HUGE + "/",
        "/api/v1/patients/" + "9" * 5000 + "/",
    ],
)
def test_huge_ids_anywhere_in_urls_are_404(world: World, path: str) -> None:
    response = _client(world).get(path.format(patient=world.patient.pk))
    assert_json_error(response, 404)


def test_huge_patient_id_in_a_body_is_refused(world: World) -> None:
    body = {"patient": int(HUGE), "idempotency_key": "k1"}
    response = _client(world).post("/api/v1/analyses/", body, content_type="application/json")
    assert_json_error(response, (400, 404))
    assert AuditEvent.objects.filter(object_type="patient", object_id=HUGE, outcome=AuditOutcome.DENIED).exists()


@pytest.mark.parametrize("query", ["patient=%C2%B2", "patient=%D9%A3", f"patient={HUGE}"])
def test_non_ascii_or_huge_patient_filter(world: World, query: str) -> None:
    response = _client(world).get(f"/api/v1/analyses/?{query}")
    if response.status_code == 200:
        assert response.json() == []
    else:
        assert_json_error(response, 400)


@pytest.mark.parametrize("window", ["%C2%B2", "999999999", "-1", "0", "abc"])
def test_bad_window_days_is_400(world: World, window: str) -> None:
    response = _client(world).get(f"/api/v1/patients/{world.patient.pk}/scores/?window_days={window}")
    assert_json_error(response, 400, "validation_failed")


@pytest.mark.parametrize("when", EDGE_DATES)
def test_edge_dates_in_json_observation(world: World, when: str) -> None:
    body = {"code": "1742-6", "value": 30, "unit": "U/L", "observed_at": when}
    response = _client(world).post(f"/api/v1/patients/{world.patient.pk}/observations/", body, content_type="application/json")
    assert_json_error(response, 400)


@pytest.mark.parametrize("when", EDGE_DATES)
@pytest.mark.parametrize("name", ["since", "until"])
def test_edge_dates_in_filters(world: World, when: str, name: str) -> None:
    response = _client(world).get(f"/api/v1/patients/{world.patient.pk}/observations/", {name: when})
    assert_json_error(response, 400)


@pytest.mark.parametrize("when", EDGE_DATES)
def test_edge_dates_in_audit_filters(world: World, when: str) -> None:
    response = _client(world, user="admin").get("/api/v1/audit/", {"since": when})
    assert_json_error(response, 400)


@pytest.mark.parametrize("when", EDGE_DATES)
def test_edge_dates_in_csv_import(world: World, when: str) -> None:
    text = f"code,value,unit,observed_at\n1742-6,35,U/L,{when}\n"
    response = _client(world).post(f"/api/v1/patients/{world.patient.pk}/import/", text, content_type="text/csv")
    assert_json_error(response, 400)


@pytest.mark.parametrize("when", EDGE_DATES)
def test_edge_dates_in_fhir_import(world: World, when: str) -> None:
    bundle = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "1742-6"}]},
            "valueQuantity": {"value": 30, "unit": "U/L", "system": UCUM, "code": "U/L"},
            "effectiveDateTime": when,
        }}],
    }
    response = _client(world).post(f"/api/v1/patients/{world.patient.pk}/import/", bundle, content_type="application/fhir+json")
    assert_json_error(response, 400)


@pytest.mark.parametrize("raw", ['{"code": "1742-6", "value": 1e400, "unit": "U/L", "observed_at": "2024-01-01"}',
                                 '{"patient": 1, "idempotency_key": "x", "options": {"a": 1e400}}',
                                 "[" * 50_000, '{"a": ' * 50_000, "NaN", '{"value": Infinity}'])
@pytest.mark.parametrize("path", ["/api/v1/patients/{patient}/observations/", "/api/v1/analyses/", "/api/v1/patients/{patient}/"])
def test_pathological_json_is_400(world: World, raw: str, path: str) -> None:
    client = _client(world)
    url = path.format(patient=world.patient.pk)
    method = client.patch if url.endswith(f"/{world.patient.pk}/") else client.post
    response = method(url, raw, content_type="application/json")
    assert_json_error(response, 400)


def test_multipart_import_with_a_text_field_instead_of_a_file(world: World) -> None:
    response = _client(world).post(f"/api/v1/patients/{world.patient.pk}/import/", {"file": "not a file"})
    assert_json_error(response, 400)


def test_multipart_upload_with_a_text_field_instead_of_a_file(world: World) -> None:
    response = _client(world).post(f"/api/v1/patients/{world.patient.pk}/imaging/upload/", {"files": "not a file", "file": "x"})
    assert_json_error(response, 400)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_body_over_the_size_limit_is_413(world: World, debug: bool) -> None:
    response = _client(world).post("/api/v1/analyses/", {"options": "x" * 4096})
    assert_json_error(response, 413, "request_too_large")
    response = _client(world).patch(
        f"/api/v1/patients/{world.patient.pk}/", '{"given_name": "' + "x" * 4096 + '"}', content_type="application/json"
    )
    assert_json_error(response, 413, "request_too_large")


def test_bad_host_is_json_400(world: World, debug: bool) -> None:
    response = _client(world, HTTP_HOST="evil.example").get("/api/v1/patients/")
    assert_json_error(response, 400, "bad_host")


def test_bad_host_on_a_page_is_plain_text(world: World, debug: bool) -> None:
    response = _client(world, HTTP_HOST="evil.example").get("/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert b"Traceback" not in response.content and b"DisallowedHost" not in response.content


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nope", "/dicomweb/instances", "/api/v1/patients/abc/"])
def test_unknown_api_urls_are_json_404(world: World, debug: bool, path: str) -> None:
    assert_json_error(_client(world).get(path), 404, "not_found")


def test_unknown_page_is_plain_404_without_the_debug_page(world: World, debug: bool) -> None:
    response = _client(world).get("/no/such/page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("text/html") or b"urlpatterns" not in response.content
    assert b"URLconf" not in response.content


def test_method_not_allowed_is_json_405(world: World, debug: bool) -> None:
    body = assert_json_error(_client(world).delete("/api/v1/patients/"), 405, "method_not_allowed")
    assert body["message"]
    response = _client(world).post("/healthz")
    assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_unhandled_exception_is_json_500_without_a_traceback(world: World, debug: bool, monkeypatch: Any) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("patients.api.views.patient_search", boom)
    response = _client(world).get("/api/v1/patients/")
    body = assert_json_error(response, 500, "internal_error")
    assert b"secret internals" not in response.content
    assert body["request_id"]


def test_csrf_failure_is_json_403(world: World) -> None:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(world.clinician)
    response = client.patch(f"/api/v1/patients/{world.patient.pk}/", {"given_name": "X"}, content_type="application/json")
    assert_json_error(response, 403)

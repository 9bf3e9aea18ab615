"""A local EHR simulator: a small FHIR R4 server and a SMART authorization server stub.

For tests and the demo only; nothing in the served application imports it. It runs as a
plain WSGI app on a loopback port (``EhrSimulator.start()``), so the whole launch and hook flow
runs on one machine with no outside service:

- ``/fhir/.well-known/smart-configuration``, ``/fhir/Patient/<id>``, searches of Observation,
  Condition and ImagingStudy by ``patient`` (Bearer token from the stub required);
- ``/auth/authorize`` (authorization code with PKCE S256; approves at once, as the signed-in
  EHR user) and ``/auth/token`` (checks the verifier and client secret; returns ``patient`` and
  an HS256 ``id_token`` with ``fhirUser``);
- ``/ehr/launch?patient=&user=&app=[&appContext=]``: what a clinician's click in the EHR (or on a card's
  SMART link) does, an EHR launch;
- CDS Hooks client side: ``hook_jwt(audience)`` signs a call with the EHR's key (``jwks``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

MRN_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class _ThreadingServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        finally:
            self.shutdown_request(request)


@dataclass
class SimClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass
class EhrSimulator:
    host: str = "127.0.0.1"
    port: int = 0
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, SimClient] = field(default_factory=dict)
    # The EHR user who is "signed in" for a standalone launch.
    signed_in_user: str = "Practitioner/1"
    requests_seen: list[str] = field(default_factory=list)
    _launches: dict[str, dict[str, str]] = field(default_factory=dict)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server: Any = None
    hook_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-384", parameters={"kid": "sim-ehr-1", "alg": "ES384", "use": "sig"}))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> EhrSimulator:
        self._server = make_server(self.host, self.port, self.app, server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.hook_key.as_dict(private=False)]}

    # --- data -----------------------------------------------------------------------------------
    def add_patient(self, patient_id: str, *, mrn: str, family: str, given: str, birth_date: str, gender: str) -> None:
        self.patients[patient_id] = {
            "resourceType": "Patient", "id": patient_id,
            "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
            "name": [{"family": family, "given": [given]}], "gender": gender, "birthDate": birth_date,
        }

    def add_lab(self, patient_id: str, *, loinc: str, value: float, unit: str, when: str, display: str = "") -> None:
        self.resources.append({
            "resourceType": "Observation", "id": f"lab{len(self.resources) + 1}", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc, **({"display": display} if display else {})}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        })

    def add_condition(self, patient_id: str, *, system: str, code: str, text: str) -> None:
        self.resources.append({
            "resourceType": "Condition", "id": f"cond{len(self.resources) + 1}",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": system, "code": code}], "text": text},
            "subject": {"reference": f"Patient/{patient_id}"},
        })

    def add_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = SimClient(client_id, client_secret, [redirect_uri])

    def search_bundle(self, resource_type: str, patient_id: str) -> dict[str, Any]:
        matches = [r for r in self.resources if r["resourceType"] == resource_type and r["subject"]["reference"] == f"Patient/{patient_id}"]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                "entry": [{"fullUrl": f"{self.fhir_base}/{r['resourceType']}/{r['id']}", "resource": r} for r in matches]}

    def prefetch(self, patient_id: str) -> dict[str, Any]:
        """What the EHR would prefetch for this service's templates."""
        return {
            "patient": self.patients.get(patient_id),
            "liverLabs": self.search_bundle("Observation", patient_id),
            "conditions": self.search_bundle("Condition", patient_id),
            "imaging": self.search_bundle("ImagingStudy", patient_id),
        }

    # --- CDS Hooks client side --------------------------------------------------------------------
    def hook_jwt(self, audience: str) -> str:
        now = int(time.time())
        return jwt.encode({"alg": "ES384", "typ": "JWT", "kid": "sim-ehr-1", "jku": f"{self.base}/jwks"},
                          {"iss": self.base, "sub": "sim-ehr", "aud": audience, "exp": now + 300, "iat": now, "jti": secrets.token_hex(8)},
                          self.hook_key, algorithms=["ES384"])

    def access_token(self, *, patient_id: str, scope: str = "patient/*.read") -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = {"patient": patient_id, "scope": scope}
        return token

    # --- WSGI -----------------------------------------------------------------------------------
    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.requests_seen.append(f"{environ['REQUEST_METHOD']} {path}")
        if path == "/fhir/.well-known/smart-configuration":
            return self._json(start_response, {
                "issuer": self.base, "authorization_endpoint": f"{self.base}/auth/authorize", "token_endpoint": f"{self.base}/auth/token",
                "grant_types_supported": ["authorization_code"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient", "patient/*.read"],
                "response_types_supported": ["code"],
                "capabilities": ["launch-ehr", "launch-standalone", "client-confidential-symmetric", "context-ehr-patient",
                                 "context-standalone-patient", "sso-openid-connect", "permission-patient"],
            })
        if path == "/jwks":
            return self._json(start_response, self.jwks)
        if path == "/ehr/launch":
            launch = secrets.token_urlsafe(12)
            self._launches[launch] = {"patient": query.get("patient", ""), "user": query.get("user", self.signed_in_user),
                                      "appContext": query.get("appContext", "")}
            return self._redirect(start_response, f"{query['app']}?{urlencode({'iss': self.fhir_base, 'launch': launch})}")
        if path == "/auth/authorize":
            return self._authorize(start_response, query)
        if path == "/auth/token" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
            return self._token(start_response, form, environ.get("HTTP_AUTHORIZATION", ""))
        if path.startswith("/fhir/"):
            return self._fhir(start_response, path[len("/fhir/"):], query, environ.get("HTTP_AUTHORIZATION", ""))
        return self._json(start_response, {"error": "not found"}, "404 Not Found")

    def _json(self, start_response: StartResponse, body: Any, status: str = "200 OK", content_type: str = "application/json") -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
        return [data]

    def _redirect(self, start_response: StartResponse, location: str) -> list[bytes]:
        start_response("302 Found", [("Location", location), ("Content-Length", "0")])
        return [b""]

    def _authorize(self, start_response: StartResponse, query: dict[str, str]) -> list[bytes]:
        client = self.clients.get(query.get("client_id", ""))
        redirect = query.get("redirect_uri", "")
        if client is None or redirect not in client.redirect_uris:
            return self._json(start_response, {"error": "invalid_client"}, "400 Bad Request")
        error = None
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" or not query.get("code_challenge") or query.get("aud", "").rstrip("/") != self.fhir_base:
            error = "invalid_request"
        launch = self._launches.pop(query["launch"], None) if query.get("launch") else None
        if query.get("launch") and launch is None:
            error = "invalid_request"
        if error:
            return self._redirect(start_response, f"{redirect}?{urlencode({'error': error, 'state': query.get('state', '')})}")
        context = launch or {"patient": next(iter(self.patients), ""), "user": self.signed_in_user}
        code = secrets.token_urlsafe(16)
        self._codes[code] = {"client": client.client_id, "redirect_uri": redirect, "challenge": query["code_challenge"],
                             "scope": query.get("scope", ""), **context}
        return self._redirect(start_response, f"{redirect}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    def _token(self, start_response: StartResponse, form: dict[str, str], authorization: str) -> list[bytes]:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if authorization.startswith("Basic "):
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        client = self.clients.get(client_id)
        grant = self._codes.pop(form.get("code", ""), None)
        if client is None or secret != client.client_secret:
            return self._json(start_response, {"error": "invalid_client"}, "401 Unauthorized")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or grant["client"] != client_id or grant["redirect_uri"] != form.get("redirect_uri") or grant["challenge"] != challenge:
            return self._json(start_response, {"error": "invalid_grant"}, "400 Bad Request")
        token = self.access_token(patient_id=grant["patient"], scope=grant["scope"])
        now = int(time.time())
        id_token = jwt.encode({"alg": "HS256"}, {"iss": self.base, "sub": grant["user"], "aud": client_id, "iat": now, "exp": now + 300,
                                                 "fhirUser": f"{self.fhir_base}/{grant['user']}"}, OctKey.import_key(client.client_secret))
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": grant["scope"],
                "patient": grant["patient"], "id_token": id_token}
        if grant.get("appContext"):
            body["appContext"] = grant["appContext"]  # from a CDS Hooks card's SMART link
        return self._json(start_response, body)

    def _fhir(self, start_response: StartResponse, rest: str, query: dict[str, str], authorization: str) -> list[bytes]:
        grant = self._tokens.get(authorization.removeprefix("Bearer ").strip())
        if grant is None:
            return self._json(start_response, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]},
                              "401 Unauthorized", "application/fhir+json")
        kind, _, ident = rest.partition("/")
        patient = ident if kind == "Patient" else query.get("patient", "")
        if patient != grant["patient"]:
            return self._json(start_response, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]},
                              "403 Forbidden", "application/fhir+json")
        if kind == "Patient":
            found = self.patients.get(ident)
            if found is None:
                return self._json(start_response, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
                                  "404 Not Found", "application/fhir+json")
            return self._json(start_response, found, content_type="application/fhir+json")
        return self._json(start_response, self.search_bundle(kind, patient), content_type="application/fhir+json")


def demo_simulator(port: int = 0) -> EhrSimulator:
    """A simulator with one cirrhotic patient and a recent liver panel (the demo's data)."""
    sim = EhrSimulator(port=port)
    sim.add_patient("ehr-1", mrn="MRN-DEMO-1", family="Example", given="Alex", birth_date="1961-04-02", gender="male")
    today = time.strftime("%Y-%m-%d")
    for loinc, value, unit in (("1975-2", 2.1, "mg/dL"), ("1751-7", 3.1, "g/dL"), ("6301-6", 1.6, "{INR}"),
                               ("2160-0", 1.3, "mg/dL"), ("2951-2", 131, "mmol/L"), ("777-3", 96, "10*9/L")):
        sim.add_lab("ehr-1", loinc=loinc, value=value, unit=unit, when=f"{today}T08:00:00Z")
    sim.add_condition("ehr-1", system="http://snomed.info/sct", code="19943007", text="Cirrhosis of liver")
    return sim



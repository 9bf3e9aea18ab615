"""Register a running EHR simulator (``python -m interop.sim``) for the demo: the EHR, its
signing keys (read from its ``/jwks``), and one EHR user linked to a local account."""

from __future__ import annotations

from typing import Any

import requests
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from interop.models import EhrRegistration, EhrUserLink
from interop.sim.server import MRN_SYSTEM


class Command(BaseCommand):
    help = "Register the local EHR simulator and link Practitioner/1 to a local clinician (demo only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--sim", default="http://127.0.0.1:8090", help="the simulator's base URL")
        parser.add_argument("--user", required=True, help="local username Practitioner/1 maps to")
        parser.add_argument("--client-id", default="cdss-demo")
        parser.add_argument("--client-secret", default="cdss-demo-secret")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError("No such user.")
        base = options["sim"].rstrip("/")
        try:
            jwks = requests.get(f"{base}/jwks", timeout=5).json()
        except (requests.RequestException, ValueError) as exc:
            raise CommandError(f"The simulator at {base} did not answer: start it with `python -m interop.sim`.") from exc
        registration, _ = EhrRegistration.objects.update_or_create(
            iss=f"{base}/fhir",
            defaults={"name": "EHR simulator", "client_id": options["client_id"], "client_secret": options["client_secret"],
                      "mrn_system": MRN_SYSTEM, "cds_jwt_issuer": base, "cds_jwks": jwks,
                      "scope": "launch openid fhirUser patient/*.read", "active": True},
        )
        EhrUserLink.objects.update_or_create(registration=registration, fhir_user="Practitioner/1", defaults={"user": user})
        self.stdout.write(f"Registered {registration.iss}; Practitioner/1 -> {user.username}.")

"""Issue a bearer token for the read-only FHIR API (printed once; only its hash is kept)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from interop.fhir.auth import token_hash
from interop.models import FhirApiToken
from patients.models import Patient


class Command(BaseCommand):
    help = "Issue a FHIR API bearer token for a local account with SMART scopes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", required=True, help="local username the token reads as")
        parser.add_argument("--scope", default="user/*.read")
        parser.add_argument("--patient", type=int, help="patient id, for patient/ scopes")
        parser.add_argument("--label", default="EHR")
        parser.add_argument("--hours", type=float, default=settings.INTEROP_FHIR_TOKEN_TTL.total_seconds() / 3600)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError("No such user.")
        patient = Patient.objects.filter(pk=options["patient"]).first() if options.get("patient") else None
        if "patient/" in options["scope"] and patient is None:
            raise CommandError("patient/ scopes need --patient.")
        raw = secrets.token_urlsafe(32)
        FhirApiToken.objects.create(
            token_sha256=token_hash(raw), label=options["label"], user=user, scope=options["scope"], patient=patient,
            expires_at=timezone.now() + dt.timedelta(hours=options["hours"]),
        )
        self.stdout.write(raw)

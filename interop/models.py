"""What a hospital registers to connect its EHR, and the links made when it is used.

- ``EhrRegistration``: one EHR (its FHIR base URL, the ``iss``), the SMART client this system
  is registered as there, the identifier system its patients' MRNs use, and the keys its CDS
  Hooks calls are signed with.
- ``EhrUserLink``: an EHR user (``fhirUser``, e.g. ``Practitioner/123``) mapped to a local
  account. Created by an administrator; a launch by an unmapped user is refused.
- ``FhirApiToken``: a bearer token for the read-only FHIR API, with SMART scopes; only its
  SHA-256 is kept.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EhrRegistration(models.Model):
    name = models.CharField(max_length=120)
    # The EHR's FHIR base URL exactly as it sends it (``iss`` of a launch, ``fhirServer`` of a hook).
    iss = models.URLField(max_length=400, unique=True)
    client_id = models.CharField(max_length=200)
    # Blank for a public client (PKCE only); otherwise a confidential symmetric client.
    client_secret = models.CharField(max_length=200, blank=True)
    scope = models.CharField(
        max_length=400, default="launch openid fhirUser patient/Patient.read patient/Observation.read",
    )
    # Identifier.system the EHR gives the MRN under; local patients are matched on it.
    mrn_system = models.CharField(max_length=400)
    # The issuer (``iss`` claim) of the JWTs its CDS Hooks calls carry, and its public keys (JWKS).
    cds_jwt_issuer = models.CharField(max_length=400, blank=True)
    cds_jwks = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"EHR {self.name}"


class EhrUserLink(models.Model):
    registration = models.ForeignKey(EhrRegistration, on_delete=models.CASCADE, related_name="user_links")
    fhir_user = models.CharField(max_length=400, help_text="e.g. Practitioner/123 (relative to the EHR's FHIR base)")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ehr_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["registration", "fhir_user"], name="ehr_user_link_unique")]

    def __str__(self) -> str:
        return f"EHR user link {self.pk}"


class FhirApiToken(models.Model):
    token_sha256 = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fhir_api_tokens")
    scope = models.CharField(max_length=400)
    # The launch context of a ``patient/`` scope: such a token reads this patient only.
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"FHIR API token {self.pk}"

from __future__ import annotations

from django.conf import settings
from django.db import models


class RecordSource(models.TextChoices):
    """How a value reached the record: typed in, a CSV file, or a FHIR resource."""

    MANUAL = "manual"
    IMPORT = "import"
    FHIR = "fhir"


class AttributedRecord(models.Model):
    """A dated clinical record: who recorded it, from where, and when it was written."""

    source = models.CharField(max_length=8, choices=RecordSource.choices, default=RecordSource.MANUAL)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

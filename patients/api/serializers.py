"""Output shapes of the patient-record API (and the documented request bodies).

Input is validated by the services (``patients.validation``) so that every error carries a
stable code; the write serializers here only describe request bodies in the OpenAPI schema.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cdss.accounts.models import CareTeam
from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord, Patient
from patients.units import UnknownAnalyte, analyte_by_code
from patients.validation import latest_valid_date


def iso_datetime(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str | None:
    """What DRF's DateTimeField renders (current time zone, "Z" for UTC), without its overhead.

    ``tz`` is the current time zone, for a caller that renders many values and looks it up
    once: the lookup (a context-local read) cost more than the rest of the conversion.
    """
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


BIRTH_DATE_MAX_AGE_YEARS = 130
# Characters that hide or reorder what a clinician reads: C0/C1 controls (tab, newline and the
# like included: a name or an address line is one line) and the bidirectional overrides.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_is_clean(text: str) -> bool:
    return not any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text)


class PatientSerializer(serializers.ModelSerializer[Patient]):
    care_team = serializers.PrimaryKeyRelatedField(queryset=CareTeam.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Patient
        fields = [
            "id", "mrn", "given_name", "family_name", "birth_date", "sex", "phone", "email",
            "address_line", "city", "postal_code", "country",
            "care_team", "status", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_birth_date(self, value: dt.date) -> dt.date:
        # Today somewhere on Earth at the latest; no one alive was born more than 130 years
        # ago, and a year-1 birth date made every later analysis of the patient fail.
        if value > latest_valid_date():
            raise serializers.ValidationError("Birth date is in the future.", code="future_date")
        today = dt.date.today()
        earliest = today.replace(year=today.year - BIRTH_DATE_MAX_AGE_YEARS, day=min(today.day, 28))
        if value < earliest:
            raise serializers.ValidationError(
                f"Birth date is more than {BIRTH_DATE_MAX_AGE_YEARS} years ago.", code="implausible_date"
            )
        return value

    def validate_care_team(self, value: CareTeam | None) -> CareTeam | None:
        user = self.context["request"].user
        if value is None and user.role != "admin":
            # A patient without a care team is invisible to every clinician.
            raise serializers.ValidationError("Only an administrator may remove the care team.", code="care_team_required")
        if value is not None and user.role != "admin" and not value.members.filter(pk=user.pk).exists():
            raise serializers.ValidationError("You are not a member of that care team.", code="not_member")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name, value in attrs.items():
            if isinstance(value, str) and not text_is_clean(value):
                raise serializers.ValidationError(
                    {name: ["Control or direction-override characters are not allowed."]}, code="control_characters"
                )
        return attrs

    def to_representation(self, instance: Patient) -> dict[str, Any]:
        # The patient list is the portal's busiest read: build the row directly (a test checks
        # that it equals DRF's generic rendering field for field).
        return {
            "id": instance.pk, "mrn": instance.mrn, "given_name": instance.given_name,
            "family_name": instance.family_name, "birth_date": instance.birth_date.isoformat(),
            "sex": instance.sex, "phone": instance.phone, "email": instance.email,
            "address_line": instance.address_line, "city": instance.city, "postal_code": instance.postal_code,
            "country": instance.country, "care_team": instance.care_team_id, "status": instance.status,
            "created_at": iso_datetime(instance.created_at), "updated_at": iso_datetime(instance.updated_at),
        }


class RangeSerializer(serializers.Serializer[Any]):
    low = serializers.FloatField()
    high = serializers.FloatField()


class PlausibleSerializer(serializers.Serializer[Any]):
    min = serializers.FloatField()
    min_inclusive = serializers.BooleanField()
    max = serializers.FloatField()
    max_inclusive = serializers.BooleanField()


class UnitConversionSerializer(serializers.Serializer[Any]):
    unit = serializers.CharField()
    factor = serializers.FloatField(help_text="canonical = value * factor + offset")
    offset = serializers.FloatField()


class AnalyteSerializer(serializers.Serializer[Any]):
    """One catalogued analyte (``patients/data/analytes.json``) with the units accepted for it."""

    key = serializers.CharField()
    code = serializers.CharField(source="loinc", help_text="LOINC code")
    display_name = serializers.CharField()
    canonical_unit = serializers.CharField()
    units = serializers.SerializerMethodField()
    reference_range = serializers.SerializerMethodField()
    plausible = serializers.SerializerMethodField()

    conversions = serializers.SerializerMethodField(
        help_text="How each accepted unit converts to the canonical one (from patients/data/analytes.json, the one "
        "source the server converts with); for display only: values are always sent in the unit entered"
    )

    def get_units(self, analyte: Any) -> list[str]:
        return [spec.unit for spec in analyte.units]

    @extend_schema_field(UnitConversionSerializer(many=True))
    def get_conversions(self, analyte: Any) -> list[dict[str, Any]]:
        return [{"unit": spec.unit, "factor": spec.factor, "offset": spec.offset} for spec in analyte.units]

    @extend_schema_field(RangeSerializer)
    def get_reference_range(self, analyte: Any) -> dict[str, float]:
        return {"low": analyte.reference_low, "high": analyte.reference_high}

    @extend_schema_field(PlausibleSerializer)
    def get_plausible(self, analyte: Any) -> dict[str, Any]:
        return {
            "min": analyte.plausible_min, "min_inclusive": analyte.plausible_min_inclusive,
            "max": analyte.plausible_max, "max_inclusive": analyte.plausible_max_inclusive,
        }


def _display_name(code: str) -> str:
    try:
        return analyte_by_code(code).display_name
    except UnknownAnalyte:
        return code


class ObservationSerializer(serializers.ModelSerializer[LabObservation]):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = LabObservation
        fields = [
            "id", "code", "display_name", "comparator", "value", "unit", "value_canonical", "unit_canonical",
            "observed_at",
            "specimen", "reference_low", "reference_high", "source", "entered_by", "entered_at",
        ]
        read_only_fields = fields

    def get_display_name(self, observation: LabObservation) -> str:
        return _display_name(observation.code)

    def to_representation(self, instance: LabObservation) -> dict[str, Any]:
        # Lists of up to 500: built directly (a test checks it equals DRF's generic rendering).
        return {
            "id": instance.pk, "code": instance.code, "display_name": _display_name(instance.code),
            "comparator": instance.comparator, "value": instance.value, "unit": instance.unit, "value_canonical": instance.value_canonical,
            "unit_canonical": instance.unit_canonical, "observed_at": iso_datetime(instance.observed_at),
            "specimen": instance.specimen, "reference_low": instance.reference_low,
            "reference_high": instance.reference_high, "source": instance.source,
            "entered_by": instance.entered_by_id, "entered_at": iso_datetime(instance.entered_at),
        }


class ObservationWriteSerializer(serializers.Serializer[Any]):
    """One result as the laboratory reported it; converted to the canonical unit on the way in."""

    code = serializers.CharField(help_text="LOINC code of a catalogued analyte (GET /api/v1/analytes/).")
    value = serializers.FloatField(help_text='A number; a censored result may be text with its comparator ("<5").')
    comparator = serializers.ChoiceField(
        choices=["<", "<=", ">=", ">"], required=False, allow_blank=True,
        help_text="Censored result (FHIR Quantity.comparator); the value is the assay's limit.",
    )
    unit_confirmed = serializers.BooleanField(
        required=False, help_text="Keep a value that is unusual in its unit (after a unit_suspect refusal)."
    )
    unit = serializers.CharField(required=False, allow_blank=True, help_text="One of the analyte's accepted units.")
    observed_at = serializers.DateTimeField(help_text="ISO 8601; a date alone means midnight UTC; not in the future.")
    specimen = serializers.CharField(required=False, allow_blank=True)
    reference_low = serializers.FloatField(required=False, allow_null=True, help_text="In `unit`.")
    reference_high = serializers.FloatField(required=False, allow_null=True, help_text="In `unit`.")


class ObservationBatchWriteSerializer(serializers.Serializer[Any]):
    observations = ObservationWriteSerializer(many=True, help_text="1 to 1,000 observations, saved all or none.")


class ObservationBatchSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    observations = ObservationSerializer(many=True)


class SeriesPointSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    observed_at = serializers.DateTimeField()
    value = serializers.FloatField(help_text="In the series' unit.")
    value_as_entered = serializers.FloatField()
    unit_as_entered = serializers.CharField()
    comparator = serializers.CharField(help_text='Censored result ("<", "<=", ">=", ">"); "" when exact.')


class SeriesSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(source="analyte.loinc")
    display_name = serializers.CharField(source="analyte.display_name")
    unit = serializers.CharField()
    truncated = serializers.BooleanField(help_text="More points exist than were returned (10,000 at most).")
    points = SeriesPointSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # Up to 10,000 points: built directly (a test checks it equals DRF's generic rendering).
        tz = timezone.get_current_timezone()
        return {
            "code": instance.analyte.loinc,
            "display_name": instance.analyte.display_name,
            "unit": instance.unit,
            "truncated": instance.truncated,
            "points": [
                {
                    "id": p.id, "observed_at": iso_datetime(p.observed_at, tz), "value": p.value,
                    "value_as_entered": p.value_as_entered, "unit_as_entered": p.unit_as_entered,
                    "comparator": p.comparator,
                }
                for p in instance.points
            ],
        }


RECORD_READ_ONLY = ["id", "source", "recorded_by", "created_at", "updated_at"]


class GeneticFindingSerializer(serializers.ModelSerializer[GeneticFinding]):
    class Meta:
        model = GeneticFinding
        fields = [
            "id", "gene", "rsid", "hgvs", "genotype", "zygosity", "assay", "reported_on", *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = RECORD_READ_ONLY


class LifestyleRecordSerializer(serializers.ModelSerializer[LifestyleRecord]):
    class Meta:
        model = LifestyleRecord
        fields = [
            "id", "recorded_on", "alcohol_value", "alcohol_unit", "alcohol_g_per_day", "smoking_status",
            "pack_years", "height_cm", "weight_kg", "bmi", "diabetes", "activity_minutes_per_week",
            *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = [*RECORD_READ_ONLY, "alcohol_g_per_day"]
        extra_kwargs = {"bmi": {"help_text": "Computed from height and weight when both are given."}}


class ClinicalFindingSerializer(serializers.ModelSerializer[ClinicalFinding]):
    class Meta:
        model = ClinicalFinding
        fields = [
            "id", "assessed_on", "ascites", "encephalopathy", "ecog_ps", "dialysis_twice_past_week",
            "hbv_status", "hcv_status", "known_cirrhosis", "cholestatic_disease",
            "tumour_count", "tumour_largest_diameter_mm",
            "macrovascular_invasion", "extrahepatic_spread", "clinically_significant_portal_hypertension",
            "transplant_candidate", *RECORD_READ_ONLY[1:],
        ]
        read_only_fields = RECORD_READ_ONLY


class LatestValueSerializer(serializers.Serializer[Any]):
    value = serializers.JSONField()
    date = serializers.DateField()
    record_id = serializers.IntegerField()


class SummaryCountsSerializer(serializers.Serializer[Any]):
    analytes = serializers.IntegerField()
    genetic_findings = serializers.IntegerField()
    lifestyle_records = serializers.IntegerField()
    clinical_findings = serializers.IntegerField()


class PatientSummarySerializer(serializers.Serializer[Any]):
    patient = PatientSerializer()
    observations = ObservationSerializer(many=True, help_text="The latest observation of each analyte.")
    genetics = GeneticFindingSerializer(many=True)
    lifestyle = serializers.DictField(
        child=LatestValueSerializer(allow_null=True), help_text="Latest value of each field, with its date."
    )
    findings = serializers.DictField(
        child=LatestValueSerializer(allow_null=True), help_text="Latest value of each field, with its date."
    )
    counts = SummaryCountsSerializer()


class ImportErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(help_text="CSV line number, or FHIR Bundle entry index (from 0).")
    code = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    detail = serializers.JSONField(allow_null=True)


class ImportReportSerializer(serializers.Serializer[Any]):
    format = serializers.ChoiceField(choices=["fhir", "csv"])
    dry_run = serializers.BooleanField()
    valid = serializers.BooleanField()
    rows = serializers.IntegerField()
    records = serializers.DictField(child=serializers.IntegerField(), help_text="Created (or, in a dry run, to create) by kind.")
    duplicates = serializers.IntegerField(help_text="Rows identical to a stored record or an earlier row; not stored again.")
    skipped = serializers.DictField(child=serializers.IntegerField(), help_text="Resources that carry no results, by type.")
    # Shadows Serializer.errors on the class only for the type checker; this serializer only renders.
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]


class ImportUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A FHIR Bundle (.json) or a CSV of observations (.csv).")

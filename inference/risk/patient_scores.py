"""Scores from a patient's stored record: the latest value of each input inside a window.

The request body built here is the same contract as ``POST /api/v1/scores/evaluate``, so a
stored evaluation can be replayed exactly; it is kept in every report as the input snapshot.
Genetic and lifestyle factors go in as documented modifiers beside the scores, never into them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord, Patient

_FINDING_FIELDS = (
    "ascites", "encephalopathy", "ecog_ps", "dialysis_twice_past_week", "cholestatic_disease",
    "macrovascular_invasion", "extrahepatic_spread", "clinically_significant_portal_hypertension", "transplant_candidate",
)
# Findings that no score takes but fusion uses (e.g. surveillance for known cirrhosis).
_CONTEXT_FIELDS = ("known_cirrhosis",)
# Genotype strings as the modifiers module names them, by (gene, rsid).
_GENOTYPES = {
    ("PNPLA3", "rs738409"): ("pnpla3_rs738409", {"C/C": "CC", "C/G": "CG", "G/C": "CG", "G/G": "GG"}),
    ("TM6SF2", "rs58542926"): ("tm6sf2_rs58542926", {"C/C": "CC", "C/T": "CT", "T/C": "CT", "T/T": "TT"}),
    ("HSD17B13", "rs72613567"): ("hsd17b13_rs72613567", {"T/T": "T/T", "T/TA": "T/TA", "TA/T": "T/TA", "TA/TA": "TA/TA"}),
}


def _age_years(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _genetic_modifiers(patient: Patient) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for finding in GeneticFinding.objects.filter(patient=patient).order_by("reported_on", "id"):
        gene = finding.gene.upper()
        mapped = _GENOTYPES.get((gene, finding.rsid.lower()))
        if mapped is not None and finding.genotype in mapped[1]:
            values[mapped[0]] = mapped[1][finding.genotype]
        if gene == "HFE" and ("C282Y" in finding.hgvs.upper() or "CYS282TYR" in finding.hgvs.upper() or finding.rsid.lower() == "rs1800562"):
            values["hfe_c282y"] = {"homozygous": "homozygous", "heterozygous": "heterozygous", "absent": "none"}.get(finding.zygosity or "")
    return {k: v for k, v in values.items() if v is not None}


def _lifestyle_modifiers(patient: Patient, since: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values: dict[str, Any] = {}
    used: list[dict[str, Any]] = []
    for record in LifestyleRecord.objects.filter(patient=patient, recorded_on__gte=since).order_by("recorded_on", "id"):
        for name, value in (("alcohol_g_per_day", record.alcohol_g_per_day), ("smoking", record.smoking_status), ("bmi_kg_m2", record.bmi)):
            if value is not None:
                values[name] = value
                used.append({"name": name, "value": value, "date": record.recorded_on.isoformat()})
        if record.diabetes is not None:
            values["diabetes"] = record.diabetes in ("type_1", "type_2", "other")
    return values, used


def patient_score_request(*, patient: Patient, as_of: dt.datetime | None = None, window_days: int | None = None) -> dict[str, Any]:
    as_of = as_of or timezone.now()
    window = window_days if window_days is not None else settings.SCORES_LOOKBACK_DAYS
    since = as_of - dt.timedelta(days=window)
    latest: dict[str, LabObservation] = {}
    for obs in LabObservation.objects.filter(patient=patient, observed_at__gte=since, observed_at__lte=as_of).order_by("observed_at", "id"):
        latest[obs.code] = obs  # ascending order: the last one seen is the newest
    observations = [
        {"code": o.code, "value": o.value_canonical, "unit": o.unit_canonical, "date": o.observed_at.isoformat()}
        for o in sorted(latest.values(), key=lambda o: o.code)
    ]
    findings: dict[str, Any] = {}
    context: dict[str, Any] = {}
    finding_dates: dict[str, str] = {}
    for record in ClinicalFinding.objects.filter(patient=patient, assessed_on__gte=since.date(), assessed_on__lte=as_of.date()).order_by("assessed_on", "id"):
        for name in _FINDING_FIELDS:
            value = getattr(record, name)
            if value is not None:
                findings[name] = value
                finding_dates[name] = record.assessed_on.isoformat()
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name)
            if value is not None:
                context[name] = value
                finding_dates[name] = record.assessed_on.isoformat()
    modifiers = _genetic_modifiers(patient)
    lifestyle, _ = _lifestyle_modifiers(patient, since.date())
    modifiers.update(lifestyle)
    latest_finding = ClinicalFinding.objects.filter(patient=patient, assessed_on__lte=as_of.date()).order_by("-assessed_on", "-id")
    hbv = latest_finding.exclude(hbv_status__isnull=True).values_list("hbv_status", flat=True).first()
    hcv = latest_finding.exclude(hcv_status__isnull=True).values_list("hcv_status", flat=True).first()
    if hbv is not None:
        modifiers["hbv"] = hbv == "chronic"
    if hcv is not None:
        modifiers["hcv"] = hcv == "chronic"
    patient_block: dict[str, Any] = {"age_years": _age_years(patient.birth_date, as_of.date())}
    if patient.sex in ("male", "female"):
        patient_block["sex"] = patient.sex
    return {
        "patient": patient_block,
        "observations": observations,
        "findings": findings,
        "modifiers": modifiers,
        "_finding_dates": finding_dates,
        "_context": context,
    }


def patient_scores_evaluate(
    *, patient: Patient, as_of: dt.datetime | None = None, window_days: int | None = None, score_ids: list[str] | None = None
) -> dict[str, Any]:
    """Evaluate the scores and say which dated inputs were used."""
    from inference.risk.scores.registry import scores_evaluate

    as_of = as_of or timezone.now()
    window = window_days if window_days is not None else settings.SCORES_LOOKBACK_DAYS
    body = patient_score_request(patient=patient, as_of=as_of, window_days=window)
    finding_dates = body.pop("_finding_dates")
    context = body.pop("_context")
    if score_ids:
        body["scores"] = score_ids
    response = scores_evaluate(body)
    inputs_used = [{"kind": "observation", **o} for o in body["observations"]] + [
        {"kind": "finding", "name": name, "value": {**body["findings"], **context}[name], "date": date}
        for name, date in sorted(finding_dates.items())
    ]
    from inference.risk.patient_learned import patient_learned_evaluate

    return {
        "as_of": as_of.isoformat(),
        "window_days": window,
        "request": body,
        "response": response,
        "context": context,
        "inputs_used": inputs_used,
        "learned": patient_learned_evaluate(body),
    }

"""Scores from a patient's stored record: the latest value of each input inside a window.

The request body built here is the same contract as ``POST /api/v1/scores/evaluate``, so a
stored evaluation can be replayed exactly; it is kept in every report as the input snapshot.
Genetic and lifestyle factors go in as documented modifiers beside the scores, never into them.
A censored result ("<5") goes in with its comparator, so each score says when it rests on one.
The clinician-entered tumour burden (count and largest diameter) becomes ``liver_tumours`` with
source "clinician": BCLC needs only the count, the largest diameter and whether all are within
3 cm, which the largest diameter bounds, so the other tumours are stated at most that size.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.utils import timezone

from inference.eligibility import age_years
from inference.risk.patient_learned import patient_learned_evaluate
from inference.risk.scores.registry import scores_evaluate
from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LungNodule, Patient
from patients.record_kinds import FINDINGS, LIFESTYLE
from patients.selectors.observations import observation_latest
from patients.selectors.records import LatestValue, record_latest
from patients.services.nodules import NODULE_ASSESSMENTS

_FINDING_FIELDS = (
    "ascites", "encephalopathy", "ecog_ps", "dialysis_twice_past_week", "cholestatic_disease",
    "macrovascular_invasion", "extrahepatic_spread", "clinically_significant_portal_hypertension", "transplant_candidate",
)
# Findings that no score takes but fusion uses (e.g. surveillance for known cirrhosis).
_CONTEXT_FIELDS = ("known_cirrhosis",)
# The tumour burden as a clinician states it; read together from one assessment.
_TUMOUR_FIELDS = ("tumour_count", "tumour_largest_diameter_mm")
# What a model card's population criteria may ask of the record (inference.eligibility).
_POPULATION_FIELDS = ("hcv_status", "hbv_status", "known_cirrhosis", "cholestatic_disease")
# Genotype strings as the modifiers module names them, by (gene, rsid).
_GENOTYPES = {
    ("PNPLA3", "rs738409"): ("pnpla3_rs738409", {"C/C": "CC", "C/G": "CG", "G/C": "CG", "G/G": "GG"}),
    ("TM6SF2", "rs58542926"): ("tm6sf2_rs58542926", {"C/C": "CC", "C/T": "CT", "T/C": "CT", "T/T": "TT"}),
    ("HSD17B13", "rs72613567"): ("hsd17b13_rs72613567", {"T/T": "T/T", "T/TA": "T/TA", "TA/T": "T/TA", "TA/TA": "TA/TA"}),
}


def _observation_entry(o: LabObservation) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": o.code, "value": o.value_canonical, "unit": o.unit_canonical, "date": o.observed_at.isoformat()}
    if o.comparator:
        entry["comparator"] = o.comparator
    return entry


def _tumours(record: ClinicalFinding) -> list[dict[str, Any]] | None:
    """The stated tumour burden as ``liver_tumours``; None when the assessment has none."""
    count, largest_mm = record.tumour_count, record.tumour_largest_diameter_mm
    if count is None:
        return None
    if count == 0:
        return []
    if largest_mm is None:
        return None
    return [{"diameter_cm": round(largest_mm / 10.0, 2), "source": "clinician"} for _ in range(count)]


def _population_facts(patient: Patient, as_of: dt.date, stated: dict[str, LatestValue | None]) -> dict[str, Any]:
    """The latest stated value of each field the models' population criteria read."""
    facts: dict[str, Any] = {"age_years": age_years(patient.birth_date, as_of)}
    if patient.sex in ("male", "female"):
        facts["sex"] = patient.sex
    for name in _POPULATION_FIELDS:
        latest = stated.get(name)
        if latest is not None:
            facts[name] = latest.value
    return facts


def _genetic_modifiers(patient: Patient, as_of: dt.date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for finding in GeneticFinding.objects.filter(patient=patient, reported_on__lte=as_of).order_by("reported_on", "id"):
        gene = finding.gene.upper()
        mapped = _GENOTYPES.get((gene, finding.rsid.lower()))
        if mapped is not None and finding.genotype in mapped[1]:
            values[mapped[0]] = mapped[1][finding.genotype]
        if gene == "HFE" and ("C282Y" in finding.hgvs.upper() or "CYS282TYR" in finding.hgvs.upper() or finding.rsid.lower() == "rs1800562"):
            values["hfe_c282y"] = {"homozygous": "homozygous", "heterozygous": "heterozygous", "absent": "none"}.get(finding.zygosity or "")
    return {k: v for k, v in values.items() if v is not None}


# Lifestyle record fields by the modifier they state.
_LIFESTYLE_MODIFIERS = {"alcohol_g_per_day": "alcohol_g_per_day", "smoking_status": "smoking", "bmi": "bmi_kg_m2"}


def _lifestyle_modifiers(patient: Patient, since: dt.date, as_of: dt.date) -> dict[str, Any]:
    """The newest statement of each lifestyle modifier in the window."""
    latest = record_latest(LIFESTYLE, patient=patient, since=since, until=as_of)
    values = {key: stated.value for name, key in _LIFESTYLE_MODIFIERS.items() if (stated := latest.get(name)) is not None}
    diabetes = latest.get("diabetes")
    if diabetes is not None:
        values["diabetes"] = diabetes.value in ("type_1", "type_2", "other")
    return values


# The nodule fields the lung scores read, by record field (the scores call the type "type").
_NODULE_SCORE_FIELDS = {
    "nodule_type": "type", "long_axis_mm": "long_axis_mm", "short_axis_mm": "short_axis_mm",
    "mean_diameter_mm": "mean_diameter_mm", "volume_mm3": "volume_mm3", "solid_component_mm": "solid_component_mm",
    "upper_lobe": "upper_lobe", "spiculated": "spiculated", "status": "status", "prior_category": "prior_category",
}
_NODULE_CONTEXT_FIELDS = (
    ("nodule_context", "nodule_context"), ("screening_exam", "lung_screening_exam"),
    ("nodule_patient_risk", "nodule_patient_risk"), ("family_history_lung_cancer", "family_history_lung_cancer"),
    ("emphysema", "emphysema"), ("known_cancer_or_immunosuppressed", "known_cancer_or_immunosuppressed"),
    ("nodule_count", "nodule_count"),
)


def _lung_nodule_inputs(
    patient: Patient, since: dt.date, as_of: dt.date
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    """The lung scores' findings from the record: the nodules of the newest CT date in the window
    (one scan; calcified nodules are benign and left out of the scores, as Lung-RADS, Brock and
    Fleischner exclude them) and the newest stated value of each context field. Also the dates
    used and, per scored nodule (in the order the scores index them), the record it came from."""
    findings: dict[str, Any] = {}
    dates: dict[str, str] = {}
    refs: list[dict[str, Any]] = []
    rows = LungNodule.objects.filter(patient=patient, observed_on__gte=since, observed_on__lte=as_of)
    newest = rows.order_by("-observed_on").values_list("observed_on", flat=True).first()
    if newest is None:  # no nodule: the context alone scores nothing
        return findings, dates, refs
    nodules: list[dict[str, Any]] = []
    for row in rows.filter(observed_on=newest).order_by("id"):
        if row.calcified:
            continue
        nodule = {key: getattr(row, name) for name, key in _NODULE_SCORE_FIELDS.items() if getattr(row, name) not in (None, "")}
        refs.append({"index": len(nodules), "record_id": row.pk, "finding_id": row.finding_id,
                     "observed_on": newest.isoformat(), "type": row.nodule_type,
                     "long_axis_mm": row.long_axis_mm, "mean_diameter_mm": row.mean_diameter_mm,
                     "series_uid": row.series_uid, "source": "model" if row.model_key else "clinician"})
        nodules.append(nodule)
    findings["lung_nodules"] = nodules
    dates["lung_nodules"] = newest.isoformat()
    context = record_latest(NODULE_ASSESSMENTS, patient=patient, since=since, until=as_of)
    for name, key in _NODULE_CONTEXT_FIELDS:
        stated = context.get(name)
        # A count below one states no nodule the scores could count.
        if stated is None or (name == "nodule_count" and stated.value < 1):
            continue
        findings[key] = stated.value
        dates[key] = stated.date.isoformat()
    return findings, dates, refs


def _lung_scores_name_nodules(response: dict[str, Any], refs: list[dict[str, Any]]) -> None:
    """Each lung score's per-nodule detail names the record nodule it refers to; the score's
    ``nodule`` is the one that decided it (highest category or probability, largest band)."""
    by_index = {ref["index"]: ref for ref in refs}
    for score_id in ("lung_rads", "brock", "fleischner"):
        score = (response.get("scores") or {}).get(score_id)
        if not isinstance(score, dict):
            continue
        details = score.get("details") or {}
        for item in details.get("nodules") or []:
            if isinstance(item, dict) and item.get("index") in by_index:
                item["record"] = by_index[item["index"]]
        scored = [n for n in details.get("nodules") or [] if isinstance(n, dict) and "record" in n]
        if score_id == "brock" and scored:
            details["nodule"] = max(scored, key=lambda n: n.get("probability") or 0.0)["record"]
        elif score_id == "lung_rads" and scored:
            decisive = [n for n in scored if n.get("category") == score.get("category")]
            details["nodule"] = (decisive or scored)[0]["record"]
        elif score_id == "fleischner" and refs and details.get("size") is not None:
            basis = details.get("size_basis")
            size = details["size"]
            for ref in refs:
                mean = ref.get("mean_diameter_mm")
                if basis != "volume_mm3" and mean is not None and math.floor(mean + 0.5) == size:
                    details["nodule"] = ref
                    break
            else:
                details["nodule"] = refs[0] if len(refs) == 1 else None


def _tumour_record(patient: Patient, since: dt.date, as_of: dt.date) -> ClinicalFinding | None:
    """The newest assessment in the window that states a usable tumour burden (see ``_tumours``)."""
    stated = ClinicalFinding.objects.filter(
        patient=patient, assessed_on__gte=since, assessed_on__lte=as_of, tumour_count__isnull=False
    ).exclude(tumour_count__gt=0, tumour_largest_diameter_mm__isnull=True)
    return stated.order_by("-assessed_on", "-id").first()


def patient_score_request(*, patient: Patient, as_of: dt.datetime | None = None, window_days: int | None = None) -> dict[str, Any]:
    as_of = as_of or timezone.now()
    window = window_days if window_days is not None else settings.SCORES_LOOKBACK_DAYS
    since = as_of - dt.timedelta(days=window)
    latest = observation_latest(patient=patient, since=since, until=as_of)
    observations = [_observation_entry(o) for o in sorted(latest, key=lambda o: o.code)]
    findings: dict[str, Any] = {}
    context: dict[str, Any] = {}
    finding_dates: dict[str, str] = {}
    in_window = record_latest(FINDINGS, patient=patient, since=since.date(), until=as_of.date())
    for names, into in ((_FINDING_FIELDS, findings), (_CONTEXT_FIELDS, context)):
        for name in names:
            stated = in_window.get(name)
            if stated is not None:
                into[name] = stated.value
                finding_dates[name] = stated.date.isoformat()
    tumour_record = _tumour_record(patient, since.date(), as_of.date())
    if tumour_record is not None:
        findings["liver_tumours"] = _tumours(tumour_record)
        for name in _TUMOUR_FIELDS:
            if getattr(tumour_record, name) is not None:
                context[name] = getattr(tumour_record, name)
                finding_dates[name] = tumour_record.assessed_on.isoformat()
    nodule_findings, nodule_dates, nodule_refs = _lung_nodule_inputs(patient, since.date(), as_of.date())
    findings.update(nodule_findings)
    finding_dates.update(nodule_dates)
    if nodule_refs:
        context["lung_nodule_records"] = nodule_refs
    modifiers = _genetic_modifiers(patient, as_of.date())
    modifiers.update(_lifestyle_modifiers(patient, since.date(), as_of.date()))
    ever_stated = record_latest(FINDINGS, patient=patient, until=as_of.date())
    for name, key in (("hbv_status", "hbv"), ("hcv_status", "hcv")):
        status = ever_stated.get(name)
        if status is not None:
            modifiers[key] = status.value == "chronic"
    patient_block: dict[str, Any] = {"age_years": age_years(patient.birth_date, as_of.date())}
    if patient.sex in ("male", "female"):
        patient_block["sex"] = patient.sex
    return {
        "patient": patient_block,
        "observations": observations,
        "findings": findings,
        "modifiers": modifiers,
        "_finding_dates": finding_dates,
        "_context": context,
        "_population": _population_facts(patient, as_of.date(), ever_stated),
    }


def patient_scores_evaluate(
    *, patient: Patient, as_of: dt.datetime | None = None, window_days: int | None = None, score_ids: list[str] | None = None
) -> dict[str, Any]:
    """Evaluate the scores and say which dated inputs were used."""
    as_of = as_of or timezone.now()
    window = window_days if window_days is not None else settings.SCORES_LOOKBACK_DAYS
    body = patient_score_request(patient=patient, as_of=as_of, window_days=window)
    finding_dates = body.pop("_finding_dates")
    context = body.pop("_context")
    population = body.pop("_population")
    if score_ids:
        body["scores"] = score_ids
    response = scores_evaluate(body)
    _lung_scores_name_nodules(response, context.get("lung_nodule_records") or [])
    inputs_used = [{"kind": "observation", **o} for o in body["observations"]] + [
        {"kind": "finding", "name": name, "value": {**body["findings"], **context}[name], "date": date}
        for name, date in sorted(finding_dates.items())
    ]
    return {
        "as_of": as_of.isoformat(),
        "window_days": window,
        "request": body,
        "response": response,
        "context": context,
        "inputs_used": inputs_used,
        "learned": patient_learned_evaluate(body, facts=population),
    }


LUNG_NODULE_SCORES = ("lung_rads", "brock", "fleischner")


def lung_nodule_scores(*, patient: Patient, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """The report's lung nodule block: the record's nodules of the newest scan and Lung-RADS,
    Brock and Fleischner computed from them, each naming the nodule it refers to (``scores``: a
    summary; ``results``: the full score results); empty when the record holds no nodule."""
    as_of = as_of or timezone.now()
    if not LungNodule.objects.filter(patient=patient).exists():
        return {}
    body = patient_score_request(patient=patient, as_of=as_of)
    context = body.pop("_context")
    for private in ("_finding_dates", "_population"):
        body.pop(private)
    if "lung_nodules" not in body["findings"]:
        return {}
    refs = context.get("lung_nodule_records") or []
    response = scores_evaluate({**body, "scores": list(LUNG_NODULE_SCORES)})
    _lung_scores_name_nodules(response, refs)
    scores: dict[str, Any] = {}
    for score_id in LUNG_NODULE_SCORES:
        score = response["scores"].get(score_id) or {}
        details = score.get("details") or {}
        scores[score_id] = {
            "computable": bool(score.get("computable")), "value": score.get("value"), "category": score.get("category"),
            "missing": score.get("missing", []), "reason": score.get("reason"), "nodule": details.get("nodule"),
            "management_text": details.get("management_text"), "guideline_version": score.get("guideline_version"),
        }
    return {"as_of": as_of.isoformat(), "nodules": refs, "scores": scores, "results": dict(response["scores"]),
            "source": "the record's lung nodules (typed, or accepted from a model's findings)"}

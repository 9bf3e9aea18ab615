"""Fuse imaging findings, validated scores and documented modifiers into staging and advice.

Pure functions of their inputs. Every recommendation names the evidence it rests on (score ids
and values, imaging measurements with their source), the guideline and its version. Anything a
recommendation would need but lacks becomes an explicit gap, never a silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

EASL_NIT_2021 = "EASL Clinical Practice Guidelines on non-invasive tests for evaluation of liver disease severity and prognosis, J Hepatol 2021;75:659-689"
EASL_HCC_2018 = "EASL Clinical Practice Guidelines: Management of hepatocellular carcinoma, J Hepatol 2018;69:182-236"
AASLD_HCC_2023 = "Singal AG et al. AASLD Practice Guidance on prevention, diagnosis, and treatment of hepatocellular carcinoma, Hepatology 2023;78:1922-1965"
BCLC_2022 = "Reig M et al. BCLC strategy for prognosis prediction and treatment recommendation: the 2022 update, J Hepatol 2022;76:681-693"
NICE_CG191 = "NICE CG191 Pneumonia in adults: diagnosis and management (2014, updated 2019)"

INTENDED_USE = (
    "This report supports, and does not replace, the clinical judgement of a qualified clinician. "
    "Scores follow the cited guideline versions; imaging model outputs are estimates with known limits "
    "stated in each model card. Verify every finding against the images and the full record."
)


@dataclass
class Recommendation:
    id: str
    domain: str  # liver_function | fibrosis | hcc_risk | hcc_staging | chest
    title: str
    statement: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    citation: str = ""
    guideline_version: str = ""


@dataclass
class Gap:
    id: str
    message: str
    needed: list[str] = field(default_factory=list)


@dataclass
class FusionResult:
    recommendations: list[Recommendation]
    gaps: list[Gap]
    staging: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "recommendations": [asdict(r) for r in self.recommendations],
            "gaps": [asdict(g) for g in self.gaps],
            "staging": self.staging,
        }


def _quantity(lesion: dict[str, Any], name: str, unit: str) -> float | None:
    """A lesion measurement as ``{"value", "unit"}`` (segmentation findings) or ``<name>_<unit>``."""
    measured = lesion.get(name)
    if isinstance(measured, dict):
        if measured.get("unit") != unit:
            raise ValueError(f"{name} in {measured.get('unit')!r}, expected {unit}")
        return None if measured.get("value") is None else float(measured["value"])
    flat = lesion.get(f"{name}_{unit.lower()}")
    return None if flat is None else float(flat)


def _score_evidence(scores: dict[str, Any], *ids: str) -> list[dict[str, Any]]:
    evidence = []
    for score_id in ids:
        result = scores.get(score_id)
        if result and result.get("computable"):
            evidence.append({"kind": "score", "id": score_id, "value": result.get("value"), "category": result.get("category")})
    return evidence


def _missing_gap(scores: dict[str, Any], score_id: str, context: str) -> Gap | None:
    result = scores.get(score_id)
    if result is None or result.get("computable"):
        return None
    missing = [str(m) for m in result.get("missing", [])]
    return Gap(id=f"{score_id}_not_computable", message=f"{context}: {score_id} not computable ({'; '.join(missing) or 'inputs missing'}).", needed=missing)


def liver_function(scores: dict[str, Any]) -> tuple[list[Recommendation], list[Gap]]:
    evidence = _score_evidence(scores, "child_pugh", "albi", "meld_na", "meld_3")
    gaps = [g for g in (_missing_gap(scores, s, "Liver function") for s in ("child_pugh", "albi", "meld_na", "meld_3")) if g]
    if not evidence:
        return [], gaps
    parts = [f"{e['id']} {e['value']}" + (f" ({e['category']})" if e.get("category") else "") for e in evidence]
    meld3 = scores.get("meld_3", {})
    statement = "Liver function: " + ", ".join(parts) + "."
    if meld3.get("computable") and isinstance(meld3.get("value"), (int, float)) and meld3["value"] >= 15:
        statement += " MELD 3.0 >= 15: consider referral for liver transplant assessment."
    return [Recommendation("liver_function", "liver_function", "Liver function", statement, evidence, EASL_NIT_2021, "EASL 2021")], gaps


def fibrosis(scores: dict[str, Any]) -> tuple[list[Recommendation], list[Gap]]:
    fib4 = scores.get("fib4", {})
    gaps = [g for g in (_missing_gap(scores, s, "Fibrosis") for s in ("fib4", "apri")) if g]
    if not fib4.get("computable"):
        return [], gaps
    category = fib4.get("category")
    advice = {
        "low": "FIB-4 below the low cut-off: advanced fibrosis unlikely; reassess in 1-3 years if risk factors persist.",
        "indeterminate": "FIB-4 indeterminate: a second-line test (vibration-controlled transient elastography or ELF) is advised.",
        "high": "FIB-4 above the high cut-off: advanced fibrosis likely; refer to hepatology for elastography and assessment.",
    }.get(str(category), "FIB-4 category not recognised.")
    return [Recommendation("fibrosis", "fibrosis", "Fibrosis", advice, _score_evidence(scores, "fib4", "apri"), EASL_NIT_2021, "EASL 2021")], gaps


def hcc_surveillance(scores: dict[str, Any], findings: dict[str, Any]) -> tuple[list[Recommendation], list[Gap]]:
    gaps = [g for g in (_missing_gap(scores, "amap", "HCC risk"),) if g]
    amap = scores.get("amap", {})
    child_pugh = scores.get("child_pugh", {})
    cirrhosis = bool(findings.get("known_cirrhosis")) or child_pugh.get("category") in ("B", "C")
    high_risk = amap.get("computable") and amap.get("category") in ("medium", "high")
    evidence = _score_evidence(scores, "amap", "child_pugh")
    if findings.get("known_cirrhosis"):
        evidence.append({"kind": "finding", "id": "known_cirrhosis", "value": True})
    if cirrhosis or high_risk:
        statement = "At high risk of HCC: ultrasound with or without AFP every 6 months."
    elif amap.get("computable"):
        statement = "aMAP low risk and no known cirrhosis: routine HCC surveillance not indicated on these data."
    else:
        return [], gaps
    return [Recommendation("hcc_surveillance", "hcc_risk", "HCC risk and surveillance", statement, evidence, f"{EASL_HCC_2018}; {AASLD_HCC_2023}", "EASL 2018 / AASLD 2023")], gaps


def hcc_staging(
    *, bclc: dict[str, Any] | None, galad: dict[str, Any] | None, lesions: list[dict[str, Any]], tumour_source: str,
    afp_on_file: bool,
) -> tuple[list[Recommendation], list[Gap], dict[str, Any]]:
    if not lesions:
        return [], [], {}
    gaps: list[Gap] = []
    if not afp_on_file:
        gaps.append(Gap("afp_missing_with_lesions", "Lesions seen, no AFP on file: GALAD not computable.", ["AFP (LOINC 1834-1)"]))
    elif galad is not None and not galad.get("computable"):
        gaps.append(Gap("galad_not_computable", "Lesions seen: GALAD not computable (" + "; ".join(galad.get("missing", [])) + ").", list(galad.get("missing", []))))
    evidence: list[dict[str, Any]] = [
        {"kind": "imaging", "id": "lesion", "index": i + 1,
         "longest_axial_diameter_mm": _quantity(lesion, "longest_axial_diameter", "mm"),
         "volume_ml": _quantity(lesion, "volume", "mL"), "source": tumour_source}
        for i, lesion in enumerate(lesions)
    ]
    staging: dict[str, Any] = {"tumour_source": tumour_source, "tumour_count": len(lesions)}
    if bclc is None or not bclc.get("computable"):
        missing = list((bclc or {}).get("missing", []))
        gaps.append(Gap("bclc_not_computable", "Lesions seen: BCLC stage not computable (" + "; ".join(missing) + ").", missing))
        statement = f"{len(lesions)} liver lesion(s) seen ({tumour_source}); complete staging inputs to obtain the BCLC stage."
        return [Recommendation("hcc_staging", "hcc_staging", "Liver lesions", statement, evidence, BCLC_2022, "BCLC 2022")], gaps, staging
    stage = bclc.get("value")
    treatments = list(bclc.get("details", {}).get("treatments", []))
    staging.update({"bclc_stage": stage, "treatments": treatments})
    evidence.append({"kind": "score", "id": "bclc", "value": stage})
    statement = (
        f"BCLC stage {stage} (tumour count and diameters from {tumour_source}). First-line options per BCLC 2022: "
        + (", ".join(t.replace("_", " ") for t in treatments) or "none listed")
        + ". Lesions on imaging need confirmation by multiphase CT/MRI (LI-RADS) or histology before treatment decisions."
    )
    return [Recommendation("hcc_staging", "hcc_staging", "HCC staging (BCLC 2022)", statement, evidence, BCLC_2022, "BCLC 2022")], gaps, staging


def chest_xray(results: list[dict[str, Any]]) -> list[Recommendation]:
    recommendations = []
    for result in results:
        probability = float(result.get("probability", 0.0))
        threshold = float(result.get("threshold", 0.5))
        positive = probability >= threshold
        statement = (
            f"Pneumonia probability {probability:.2f} (threshold {threshold:.2f}): findings suggest pneumonia. "
            "Correlate clinically; assess severity (CURB-65) and treat per local guideline."
            if positive
            else f"Pneumonia probability {probability:.2f} (threshold {threshold:.2f}): no radiographic pneumonia detected by the model; correlate clinically."
        )
        reviewed = result.get("reviewed_label")
        if reviewed and reviewed != result.get("label"):
            statement += f" A clinician reviewed the image and labelled it {str(reviewed).replace('_', ' ')}."
        recommendations.append(
            Recommendation(
                f"chest_xray_{result.get('sop_instance_uid', '')}", "chest", "Chest X-ray", statement,
                [{"kind": "imaging", "id": "pneumonia_probability", "value": probability, "series_uid": result.get("series_uid"),
                  "sop_instance_uid": result.get("sop_instance_uid"), "heatmap": bool(result.get("heatmap_ref"))}],
                NICE_CG191, "NICE CG191 2019",
            )
        )
    return recommendations


def fusion_build(
    *,
    scores: dict[str, Any],
    findings: dict[str, Any],
    imaging: list[dict[str, Any]],
    afp_on_file: bool,
    staging_scores: Callable[[list[dict[str, Any]]], dict[str, Any]],
    reviewed_lesions: list[dict[str, Any]] | None = None,
    findings_pending: int = 0,
) -> FusionResult:
    """``staging_scores(tumours)`` re-evaluates BCLC and GALAD with the given tumour list.

    ``reviewed_lesions``: the liver lesions a clinician accepted, edited or entered (flat
    ``longest_axial_diameter_mm`` / ``volume_ml``), used instead of the segmentation's own
    lesions, which are then only proposals; None where no finding review applies.
    ``findings_pending``: findings still proposed, which count for nothing and make a gap.
    """
    recommendations: list[Recommendation] = []
    gaps: list[Gap] = []
    for part in (liver_function(scores), fibrosis(scores), hcc_surveillance(scores, findings)):
        recommendations.extend(part[0])
        gaps.extend(part[1])
    entered = findings.get("liver_tumours") or []
    if entered:
        lesions, source = [{"longest_axial_diameter_mm": float(t["diameter_cm"]) * 10} for t in entered], "clinician-entered findings"
    elif reviewed_lesions is not None:
        lesions, source = reviewed_lesions, "CT findings reviewed by a clinician"
    else:
        lesions = [lesion for result in imaging if result.get("kind") == "segmentation" for lesion in result.get("findings", {}).get("lesions", [])]
        source = "the CT segmentation"
    if findings_pending:
        gaps.append(Gap("findings_awaiting_review",
                        f"{findings_pending} AI finding(s) await a clinician's review; until accepted they count towards "
                        "no staging, recommendation or score.", ["review of the AI findings"]))
    staging: dict[str, Any] = {"findings_awaiting_review": findings_pending} if findings_pending else {}
    if lesions:
        tumours = [{"diameter_cm": round((_quantity(les, "longest_axial_diameter", "mm") or 0.0) / 10, 2)} for les in lesions]
        staged = staging_scores(tumours)
        recs, staging_gaps, lesion_staging = hcc_staging(
            bclc=staged.get("bclc"), galad=staged.get("galad"), lesions=lesions, tumour_source=source, afp_on_file=afp_on_file
        )
        staging.update(lesion_staging)
        recommendations.extend(recs)
        gaps.extend(staging_gaps)
    recommendations.extend(chest_xray([r for result in imaging if result.get("kind") == "classification" for r in result.get("findings", {}).get("predictions", [])]))
    return FusionResult(recommendations=recommendations, gaps=gaps, staging=staging)

"""Liver cancer risk and staging: aMAP, GALAD and BCLC 2022."""

from __future__ import annotations

import math
from typing import Any

from .common import Collector, clamp, round_half_up
from .liver import albi_raw, child_pugh
from .types import Findings, ScoreInputs, ScoreResult, Tumour

AMAP_CITATION = "Fan R et al., J Hepatol 2020;73:1368-1378"
AMAP_VERSION = "aMAP (Fan 2020): low < 50, medium 50-60, high > 60"
GALAD_CITATION = (
    "Johnson PJ et al., Cancer Epidemiol Biomarkers Prev 2014;23:144-153; cut-off -0.63: "
    "Berhane S et al., Clin Gastroenterol Hepatol 2016;14:875-886"
)
GALAD_VERSION = "GALAD (Johnson 2014), DCP in ng/mL (muTASWako assay), positive at Z >= -0.63"
BCLC_CITATION = "Reig M et al., J Hepatol 2022;76:681-693"
BCLC_VERSION = "BCLC 2022 update (Reig 2022)"

AMAP_LOW_BELOW = 50.0
AMAP_HIGH_ABOVE = 60.0
GALAD_CUTOFF = -0.63

# BCLC treatment vocabulary; the order is the order they are listed in.
SYSTEMIC_FIRST_LINE = ("systemic_therapy", "atezolizumab_bevacizumab", "durvalumab_tremelimumab")
SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE = ("sorafenib", "lenvatinib", "durvalumab")
TREATMENTS = (
    "ablation",
    "resection",
    "liver_transplantation",
    "tace",
    *SYSTEMIC_FIRST_LINE,
    *SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE,
    "best_supportive_care",
)
VERY_EARLY_MAX_CM = 2.0
EARLY_NODULE_MAX_CM = 3.0
EARLY_MAX_NODULES = 3


def amap_raw(
    *, age: float, male: bool, bilirubin_umol_l: float, albumin_g_l: float, platelets: float
) -> float:
    linear = (
        0.06 * age
        + 0.89 * (1.0 if male else 0.0)
        + 0.48 * albi_raw(bilirubin_umol_l, albumin_g_l)
        - 0.01 * platelets
    )
    return (linear + 7.4) / 14.77 * 100.0


def amap_category(value: float) -> str:
    if value < AMAP_LOW_BELOW:
        return "low"
    return "high" if value > AMAP_HIGH_ABOVE else "medium"


def amap(inputs: ScoreInputs) -> ScoreResult:
    """aMAP = (0.06 age + 0.89 male + 0.48 ALBI - 0.01 platelets(10^9/L) + 7.4) / 14.77 x 100.

    ALBI enters unrounded (bilirubin umol/L, albumin g/L). The value is bounded to 0-100 (the
    published scale) and rounded to two decimals; low < 50, medium 50-60, high > 60.
    """
    c = Collector(inputs, score_id="amap", citation=AMAP_CITATION, guideline_version=AMAP_VERSION)
    age = c.age()
    sex = c.sex()
    bilirubin = c.lab("bilirubin_total", "umol/L")
    albumin = c.lab("albumin", "g/L")
    platelets = c.lab("platelets", "10*9/L")
    if age is None or sex is None or bilirubin is None or albumin is None or platelets is None:
        return c.not_computable()
    raw = amap_raw(
        age=age, male=sex == "male", bilirubin_umol_l=bilirubin, albumin_g_l=albumin, platelets=platelets
    )
    value = round_half_up(clamp(raw, 0.0, 100.0), 2)
    return c.result(
        value=value,
        category=amap_category(value),
        details={"unrounded": raw, "bounded_to": [0, 100], "albi_unrounded": albi_raw(bilirubin, albumin)},
    )


def galad_z(*, age: float, male: bool, afp_ng_ml: float, afp_l3_percent: float, dcp_ng_ml: float) -> float:
    return (
        -10.08
        + 0.09 * age
        + 1.67 * (1.0 if male else 0.0)
        + 2.34 * math.log10(afp_ng_ml)
        + 0.04 * afp_l3_percent
        + 1.33 * math.log10(dcp_ng_ml)
    )


def logistic(z: float) -> float:
    return math.exp(z) / (1.0 + math.exp(z)) if z < 0 else 1.0 / (1.0 + math.exp(-z))


def galad(inputs: ScoreInputs) -> ScoreResult:
    """GALAD Z = -10.08 + 0.09 age + 1.67 male + 2.34 log10(AFP ng/mL) + 0.04 AFP-L3% + 1.33 log10(DCP).

    DCP in ng/mL as in the original muTASWako assay; AFP-L3 in % of total AFP. Both are read from
    the laboratory observations (LOINC 42332-7 AFP-L3 %, 34444-0 DCP) when present, else from
    ``findings.afp_l3_percent`` / ``findings.dcp_ng_ml`` (the vectorised batch path reads only
    the findings). The value is Z rounded to two decimals; "positive" at Z >= -0.63 (Berhane 2016);
    ``details.probability`` is the logistic of the unrounded Z.
    """
    c = Collector(inputs, score_id="galad", citation=GALAD_CITATION, guideline_version=GALAD_VERSION)
    age = c.age()
    sex = c.sex()
    afp = c.lab("afp", "ng/mL")
    afp_l3 = c.lab("afp_l3", "%", required=False)
    if afp_l3 is None:
        afp_l3 = c.finding("afp_l3_percent", unit="%")
    dcp = c.lab("dcp", "ng/mL", required=False)
    if dcp is None:
        dcp = c.finding("dcp_ng_ml", unit="ng/mL")
    if age is None or sex is None or afp is None or afp_l3 is None or dcp is None:
        return c.not_computable()
    z = galad_z(age=age, male=sex == "male", afp_ng_ml=afp, afp_l3_percent=afp_l3, dcp_ng_ml=dcp)
    value = round_half_up(z, 2)
    return c.result(
        value=value,
        category="positive" if value >= GALAD_CUTOFF else "negative",
        details={"unrounded": z, "probability": logistic(z), "cutoff": GALAD_CUTOFF, "dcp_unit": "ng/mL"},
    )


def _liver_function(inputs: ScoreInputs, c: Collector) -> tuple[str | None, str, str | None]:
    """(preserved | end_stage | None, source, Child-Pugh class used).

    Precedence: the clinician's ``liver_function``; else Child-Pugh computed from labs and
    findings; else ``findings.child_pugh_class``. Child-Pugh A reads as preserved and C as
    end-stage; B is left to the clinician (BCLC 2022 no longer equates liver function with a
    Child-Pugh class), so it stays undetermined.
    """
    stated = c.finding("liver_function", required=False)
    if stated is not None:
        return stated, "findings.liver_function", None
    computed = child_pugh(inputs)
    if computed.computable:
        cp_class, source = computed.category, "child_pugh (computed from labs and findings)"
        c.record("child_pugh_class", cp_class)
    else:
        cp_class = c.finding("child_pugh_class", required=False)
        source = "findings.child_pugh_class"
    mapped = {"A": "preserved", "C": "end_stage"}.get(cp_class or "")
    return mapped, source, cp_class


def _tumour_burden(tumours: tuple[Tumour, ...]) -> tuple[int, float, bool]:
    count = len(tumours)
    largest = max(t.diameter_cm for t in tumours)
    return count, largest, all(t.diameter_cm <= EARLY_NODULE_MAX_CM for t in tumours)


def bclc_stage(
    *,
    ecog_ps: int,
    liver_function: str,
    macrovascular_invasion: bool,
    extrahepatic_spread: bool,
    count: int,
    largest_cm: float,
    all_within_3_cm: bool,
) -> str:
    if liver_function == "end_stage" or ecog_ps > 2:
        return "D"
    if macrovascular_invasion or extrahepatic_spread or ecog_ps >= 1:
        return "C"
    if count == 1 and largest_cm <= VERY_EARLY_MAX_CM:
        return "0"
    if count == 1 or (count <= EARLY_MAX_NODULES and all_within_3_cm):
        return "A"
    return "B"


def bclc_treatments(*, stage: str, count: int, findings: Findings) -> tuple[list[str], list[str]]:
    """(treatments, findings still needed to choose among them) per the BCLC 2022 flowchart."""
    if stage == "D":
        return ["best_supportive_care"], []
    if stage == "C":
        return [*SYSTEMIC_FIRST_LINE, *SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE], []
    candidate = findings.transplant_candidate
    if stage == "B":
        pattern = findings.bclc_b_pattern
        if pattern is None:
            return [], ["bclc_b_pattern"]
        if pattern == "within_extended_lt_criteria":
            return (["tace"], []) if candidate is False else (["liver_transplantation"], [])
        if pattern == "well_defined_nodules_preserved_portal_flow_selective_access":
            return ["tace"], []
        return [*SYSTEMIC_FIRST_LINE, *SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE], []
    # Stages 0 and A.
    if count == 1:
        csph = findings.clinically_significant_portal_hypertension
        bilirubin_normal = findings.bilirubin_normal
        if csph is False and bilirubin_normal is True:
            return ["resection"], []
        if not (csph is True or bilirubin_normal is False):
            pending = [
                name
                for name, value in (
                    ("clinically_significant_portal_hypertension", csph),
                    ("bilirubin_normal", bilirubin_normal),
                )
                if value is None
            ]
            return [], pending
    if candidate is None:
        return [], ["transplant_candidate"]
    return (["liver_transplantation"], []) if candidate else (["ablation"], [])


def bclc(inputs: ScoreInputs) -> ScoreResult:
    """BCLC 2022 stage (0, A, B, C, D) and the first-line options of Reig 2022, figure 1.

    Stage: end-stage liver function or ECOG-PS > 2 -> D; macrovascular invasion, extrahepatic
    spread or ECOG-PS 1-2 -> C; else (ECOG-PS 0, preserved liver function) single <= 2 cm -> 0,
    single of any size or 2-3 nodules all <= 3 cm -> A, otherwise B.
    Liver function: ``findings.liver_function``, else Child-Pugh (computed, else
    ``findings.child_pugh_class``) A -> preserved, C -> end-stage; B is not mapped (the
    clinician must state it), so the stage is then not computable.
    Treatments: 0/A single tumour -> resection when portal pressure and bilirubin are normal,
    else liver transplantation for a transplant candidate, else ablation; 0/A with 2-3 nodules
    -> transplantation or ablation likewise. B by ``bclc_b_pattern``: extended LT criteria ->
    transplantation (TACE when ``transplant_candidate`` is false), well-defined nodules -> TACE,
    diffuse/infiltrative -> systemic therapy. C -> atezolizumab-bevacizumab or
    durvalumab-tremelimumab, sorafenib, lenvatinib or durvalumab when those are not feasible.
    D -> best supportive care. When a finding needed to choose is absent, the stage is still
    given, ``treatments`` is empty and ``details.treatments_pending_on`` names what is needed.
    Tumour count and diameters come from ``liver_tumours``; ``details.tumour_source`` says
    whether a clinician entered them or imaging measured them. Treatment stage migration is
    left to the clinician.
    """
    c = Collector(inputs, score_id="bclc", citation=BCLC_CITATION, guideline_version=BCLC_VERSION)
    f = inputs.findings
    tumours = c.finding("liver_tumours")
    ecog = c.finding("ecog_ps")
    mvi = c.finding("macrovascular_invasion")
    ehs = c.finding("extrahepatic_spread")
    liver_function, lf_source, cp_class = _liver_function(inputs, c)
    if liver_function is None:
        c.lacks("liver_function")
    if tumours is not None and len(tumours) == 0:
        return c.not_computable(reason="not computable: liver_tumours is empty (BCLC stages a diagnosed HCC)")
    if c.missing or tumours is None or ecog is None or mvi is None or ehs is None or liver_function is None:
        details: dict[str, Any] = {"liver_function_source": lf_source}
        if cp_class == "B":
            details["liver_function_note"] = (
                "Child-Pugh B: state findings.liver_function (preserved or end_stage) to stage"
            )
        return c.not_computable(details=details)
    count, largest, within_3 = _tumour_burden(tumours)
    for index, tumour in enumerate(tumours):
        c.record(f"liver_tumours[{index}].diameter_cm", tumour.diameter_cm, unit="cm")
    stage = bclc_stage(
        ecog_ps=ecog,
        liver_function=liver_function,
        macrovascular_invasion=mvi,
        extrahepatic_spread=ehs,
        count=count,
        largest_cm=largest,
        all_within_3_cm=within_3,
    )
    treatments, pending = bclc_treatments(stage=stage, count=count, findings=f)
    sources = sorted({t.source for t in tumours if t.source is not None})
    details = {
        "treatments": treatments,
        "treatments_pending_on": pending,
        "tumour_count": count,
        "largest_tumour_cm": largest,
        "tumour_source": sources[0] if len(sources) == 1 else (sources or "not_stated"),
        "liver_function": liver_function,
        "liver_function_source": lf_source,
        "ecog_ps": ecog,
    }
    if "systemic_therapy" in treatments:
        details["treatment_lines"] = {
            "first_line": list(SYSTEMIC_FIRST_LINE),
            "if_first_line_not_feasible": list(SYSTEMIC_IF_FIRST_LINE_NOT_FEASIBLE),
        }
    if "ablation" in treatments and largest > EARLY_NODULE_MAX_CM:
        details["note"] = "ablation is less effective for tumours > 3 cm; consider combined approaches"
    if stage == "0" and "resection" in treatments:
        details["note"] = "BCLC 0: ablation is an accepted alternative to resection for tumours <= 2 cm"
    if stage == "D" and liver_function == "end_stage":
        details["note"] = (
            "end-stage liver function with a tumour burden within transplant criteria: assess for "
            "liver transplantation"
        )
    return c.result(value=stage, category=stage, details=details)

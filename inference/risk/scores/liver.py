"""Liver function and fibrosis scores: Child-Pugh, ALBI, FIB-4, APRI.

Scores with a continuous value report it rounded half away from zero to two decimals, and
their category is read from that reported value, so that the number a clinician sees and its
category never disagree; ``details.unrounded`` keeps the exact value.
"""

from __future__ import annotations

import math
from typing import Any

from .common import Collector, round_half_up
from .types import ScoreInputs, ScoreResult

CHILD_PUGH_CITATION = "Pugh RNH et al., Br J Surg 1973;60:646-649"
CHILD_PUGH_VERSION = "Child-Turcotte-Pugh (Pugh 1973), INR in place of prothrombin time"
ALBI_CITATION = "Johnson PJ et al., J Clin Oncol 2015;33:550-558"
ALBI_VERSION = "ALBI grade (Johnson 2015)"
FIB4_CITATION = (
    "Sterling RK et al., Hepatology 2006;43:1317-1325; Shah AG et al., Clin Gastroenterol Hepatol "
    "2009;7:1104-1112; McPherson S et al., Am J Gastroenterol 2017;112:740-751"
)
FIB4_VERSION = "FIB-4 (Sterling 2006), cut-offs 1.30/2.67 (Shah 2009), 2.0 at age >= 65 (McPherson 2017)"
APRI_CITATION = "Wai CT et al., Hepatology 2003;38:518-526"
APRI_VERSION = "APRI (Wai 2003) cut-offs 0.5/1.5 (significant fibrosis) and 1.0/2.0 (cirrhosis)"

# Child-Pugh cut-offs in the units of Pugh 1973 (mg/dL, g/dL). Each tuple: (upper bound of
# 1 point, upper bound of 2 points); bounds inclusive of the 2-point band, as published
# ("2-3 mg/dL", "2.8-3.5 g/dL", INR "1.7-2.3").
BILIRUBIN_STANDARD = (2.0, 3.0)
BILIRUBIN_CHOLESTATIC = (4.0, 10.0)
INR_BANDS = (1.7, 2.3)
ALBUMIN_BANDS = (3.5, 2.8)  # > 3.5: 1 point; 2.8-3.5: 2 points; < 2.8: 3 points
ASCITES_POINTS = {"none": 1, "slight": 2, "moderate_severe": 3}
ENCEPHALOPATHY_POINTS = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}
CHILD_PUGH_CLASSES = ((6, "A"), (9, "B"), (15, "C"))

ALBI_GRADE_1_MAX = -2.60
ALBI_GRADE_2_MAX = -1.39

FIB4_LOW = 1.30
FIB4_LOW_AGE_65 = 2.0
FIB4_HIGH = 2.67
FIB4_OLDER_AGE = 65.0

APRI_DEFAULT_AST_ULN = 40.0
APRI_FIBROSIS = (0.5, 1.5)  # <= 0.5 unlikely, > 1.5 likely (Wai 2003)
APRI_CIRRHOSIS = (1.0, 2.0)  # <= 1.0 unlikely, > 2.0 likely (Wai 2003)


def points_rising(value: float, bands: tuple[float, float]) -> int:
    """1, 2 or 3 points for a value whose risk rises with it: < a, a..b, > b."""
    low, high = bands
    if value < low:
        return 1
    return 2 if value <= high else 3


def points_albumin(albumin_g_dl: float) -> int:
    high, low = ALBUMIN_BANDS
    if albumin_g_dl > high:
        return 1
    return 2 if albumin_g_dl >= low else 3


def child_pugh_class(total: int) -> str:
    for upper, label in CHILD_PUGH_CLASSES:
        if total <= upper:
            return label
    raise ValueError(f"Child-Pugh total {total} out of range")


def child_pugh(inputs: ScoreInputs) -> ScoreResult:
    """Child-Turcotte-Pugh class from bilirubin, albumin, INR, ascites and encephalopathy.

    Bilirubin (mg/dL): 1 point < 2, 2 points 2-3, 3 points > 3; with ``cholestatic_disease``
    (PBC, PSC) the cholestatic cut-offs < 4, 4-10, > 10 apply. ``cholestatic_disease`` not
    stated means the standard cut-offs, and ``details.bilirubin_cutoffs`` says so.
    Albumin (g/dL): > 3.5, 2.8-3.5, < 2.8. INR replaces the prothrombin-time prolongation of
    the 1973 paper (< 1.7, 1.7-2.3, > 2.3), the usual modern convention.
    Class A 5-6, B 7-9, C 10-15.
    """
    c = Collector(inputs, score_id="child_pugh", citation=CHILD_PUGH_CITATION, guideline_version=CHILD_PUGH_VERSION)
    bilirubin = c.lab("bilirubin_total", "mg/dL")
    albumin = c.lab("albumin", "g/dL")
    inr = c.lab("inr", "{INR}")
    ascites = c.finding("ascites")
    encephalopathy = c.finding("encephalopathy")
    cholestatic = c.finding("cholestatic_disease", required=False)
    if bilirubin is None or albumin is None or inr is None or ascites is None or encephalopathy is None:
        return c.not_computable()
    bands = BILIRUBIN_CHOLESTATIC if cholestatic else BILIRUBIN_STANDARD
    points = {
        "bilirubin": points_rising(bilirubin, bands),
        "albumin": points_albumin(albumin),
        "inr": points_rising(inr, INR_BANDS),
        "ascites": ASCITES_POINTS[ascites],
        "encephalopathy": ENCEPHALOPATHY_POINTS[encephalopathy],
    }
    total = sum(points.values())
    if cholestatic:
        cutoffs = "cholestatic (< 4, 4-10, > 10 mg/dL)"
    elif cholestatic is None:
        cutoffs = "standard (< 2, 2-3, > 3 mg/dL); cholestatic_disease not stated"
    else:
        cutoffs = "standard (< 2, 2-3, > 3 mg/dL)"
    details: dict[str, Any] = {
        "points": points,
        "bilirubin_cutoffs": cutoffs,
        "inr_in_place_of_prothrombin_time": True,
    }
    return c.result(value=total, category=child_pugh_class(total), details=details)


def albi_raw(bilirubin_umol_l: float, albumin_g_l: float) -> float:
    return 0.66 * math.log10(bilirubin_umol_l) - 0.085 * albumin_g_l


def albi_grade(value: float) -> str:
    if value <= ALBI_GRADE_1_MAX:
        return "1"
    return "2" if value <= ALBI_GRADE_2_MAX else "3"


def albi(inputs: ScoreInputs) -> ScoreResult:
    """ALBI = 0.66 log10(bilirubin umol/L) - 0.085 albumin g/L; grade 1 <= -2.60 < 2 <= -1.39 < 3."""
    c = Collector(inputs, score_id="albi", citation=ALBI_CITATION, guideline_version=ALBI_VERSION)
    bilirubin = c.lab("bilirubin_total", "umol/L")
    albumin = c.lab("albumin", "g/L")
    if bilirubin is None or albumin is None:
        return c.not_computable()
    raw = albi_raw(bilirubin, albumin)
    value = round_half_up(raw, 2)
    return c.result(
        value=value,
        category=albi_grade(value),
        details={"unrounded": raw, "grade_cutoffs": [ALBI_GRADE_1_MAX, ALBI_GRADE_2_MAX]},
    )


def fib4(inputs: ScoreInputs) -> ScoreResult:
    """FIB-4 = age x AST / (platelets x sqrt(ALT)).

    low < 1.30 (< 2.0 at age >= 65), indeterminate up to 2.67 inclusive, high > 2.67.
    FIB-4 was not validated below age 35 (McPherson 2017): ``details.note`` says so.
    """
    c = Collector(inputs, score_id="fib4", citation=FIB4_CITATION, guideline_version=FIB4_VERSION)
    age = c.age()
    ast = c.lab("ast", "U/L")
    alt = c.lab("alt", "U/L")
    platelets = c.lab("platelets", "10*9/L")
    if age is None or ast is None or alt is None or platelets is None:
        return c.not_computable()
    raw = age * ast / (platelets * math.sqrt(alt))
    value = round_half_up(raw, 2)
    low = FIB4_LOW_AGE_65 if age >= FIB4_OLDER_AGE else FIB4_LOW
    if value < low:
        category = "low"
    elif value > FIB4_HIGH:
        category = "high"
    else:
        category = "indeterminate"
    details: dict[str, Any] = {"unrounded": raw, "low_cutoff": low, "high_cutoff": FIB4_HIGH}
    if age < 35:
        details["note"] = "FIB-4 is not validated below age 35; interpret with caution"
    return c.result(value=value, category=category, details=details)


def apri_band(value: float, bands: tuple[float, float]) -> str:
    low, high = bands
    if value <= low:
        return "unlikely"
    return "likely" if value > high else "indeterminate"


def apri(inputs: ScoreInputs) -> ScoreResult:
    """APRI = (AST / AST upper limit of normal) / platelets (10^9/L) x 100.

    The upper limit of normal is ``findings.ast_upper_limit_normal_u_l`` (the lab's own) or,
    when not stated, 40 U/L, reported in ``details.ast_upper_limit_normal_source``. Bands
    (Wai 2003): significant fibrosis unlikely <= 0.5, likely > 1.5; cirrhosis unlikely <= 1.0,
    likely > 2.0; indeterminate between. ``category`` is None: the two bands are in details.
    """
    c = Collector(inputs, score_id="apri", citation=APRI_CITATION, guideline_version=APRI_VERSION)
    ast = c.lab("ast", "U/L")
    platelets = c.lab("platelets", "10*9/L")
    uln = c.finding("ast_upper_limit_normal_u_l", unit="U/L", required=False)
    source = "findings" if uln is not None else "default"
    if uln is None:
        uln = APRI_DEFAULT_AST_ULN
        c.record("ast_upper_limit_normal_u_l", uln, unit="U/L")
    if ast is None or platelets is None:
        return c.not_computable()
    raw = (ast / uln) / platelets * 100.0
    value = round_half_up(raw, 2)
    details = {
        "unrounded": raw,
        "significant_fibrosis": apri_band(value, APRI_FIBROSIS),
        "cirrhosis": apri_band(value, APRI_CIRRHOSIS),
        "ast_upper_limit_normal_u_l": uln,
        "ast_upper_limit_normal_source": source,
    }
    return c.result(value=value, category=None, details=details)

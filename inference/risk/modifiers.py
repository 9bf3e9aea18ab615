"""Genetic and lifestyle risk modifiers, shown next to the validated scores, never folded in.

Each modifier is a documented effect size from the literature: the factor, whether this
patient has it (``present``: true, false, or null when not stated), the measure (relative risk,
odds ratio or hazard ratio) with its 95% CI where we quote one, the outcome it refers to, and
the citation. ``approximate: true`` marks figures quoted approximately from the meta-analysis or
cohort cited (rounded, or derived from a reported percentage); verify against the source before
quoting them in a clinical document. None of these numbers alters any score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from patients.validation import Parser, boolean, choice, fields_parse, number

Pnpla3 = Literal["CC", "CG", "GG"]
Tm6sf2 = Literal["CC", "CT", "TT"]
Hsd17b13 = Literal["T/T", "T/TA", "TA/TA"]
HfeC282y = Literal["none", "heterozygous", "homozygous"]
Smoking = Literal["never", "former", "current"]

# Bagnardi 2015's "heavy drinking" band, the one with a liver-cancer estimate.
ALCOHOL_HEAVY_G_PER_DAY = 50.0
OBESITY_BMI = 30.0


@dataclass(frozen=True, slots=True)
class ModifierInputs:
    pnpla3_rs738409: Pnpla3 | None = None
    tm6sf2_rs58542926: Tm6sf2 | None = None
    hsd17b13_rs72613567: Hsd17b13 | None = None
    hfe_c282y: HfeC282y | None = None
    alcohol_g_per_day: float | None = None
    smoking: Smoking | None = None
    diabetes: bool | None = None
    bmi_kg_m2: float | None = None
    hbv: bool | None = None
    hcv: bool | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    factor: str
    measure: Literal["relative_risk", "odds_ratio", "hazard_ratio"]
    estimate: float
    ci_95: tuple[float, float] | None
    approximate: bool
    comparison: str
    outcome: str
    citation: str


PNPLA3_CG = Effect(
    factor="PNPLA3 rs738409 CG (one G allele)",
    measure="odds_ratio",
    estimate=1.8,
    ci_95=None,
    approximate=True,
    comparison="per G allele vs CC",
    outcome="hepatocellular carcinoma in chronic liver disease",
    citation="Trepo E et al., Hepatology 2014;59:2170-2177 (individual participant data meta-analysis)",
)
PNPLA3_GG = Effect(
    factor="PNPLA3 rs738409 GG",
    measure="odds_ratio",
    estimate=3.2,
    ci_95=None,
    approximate=True,
    comparison="GG vs CC",
    outcome="hepatocellular carcinoma in chronic liver disease",
    citation="Trepo E et al., Hepatology 2014;59:2170-2177 (individual participant data meta-analysis)",
)
TM6SF2_T = Effect(
    factor="TM6SF2 rs58542926 T allele (E167K)",
    measure="odds_ratio",
    estimate=1.9,
    ci_95=None,
    approximate=True,
    comparison="T allele carriers vs CC",
    outcome="advanced fibrosis or cirrhosis in NAFLD",
    citation="Liu YL et al., Nat Commun 2014;5:4309",
)
HSD17B13_HET = Effect(
    factor="HSD17B13 rs72613567 T/TA (protective)",
    measure="odds_ratio",
    estimate=0.74,
    ci_95=None,
    approximate=True,
    comparison="T/TA vs T/T (26% lower risk)",
    outcome="non-alcoholic cirrhosis",
    citation="Abul-Husn NS et al., N Engl J Med 2018;378:1096-1106",
)
HSD17B13_HOM = Effect(
    factor="HSD17B13 rs72613567 TA/TA (protective)",
    measure="odds_ratio",
    estimate=0.51,
    ci_95=None,
    approximate=True,
    comparison="TA/TA vs T/T (49% lower risk)",
    outcome="non-alcoholic cirrhosis",
    citation="Abul-Husn NS et al., N Engl J Med 2018;378:1096-1106",
)
HFE_HOMOZYGOUS = Effect(
    factor="HFE C282Y homozygous",
    measure="hazard_ratio",
    estimate=10.5,
    ci_95=None,
    approximate=True,
    comparison="C282Y homozygous vs no C282Y, men",
    outcome="primary liver cancer (UK Biobank)",
    citation="Atkins JL et al., JAMA 2020;324:2048-2057",
)
ALCOHOL_HEAVY = Effect(
    factor="alcohol > 50 g/day",
    measure="relative_risk",
    estimate=2.07,
    ci_95=(1.66, 2.58),
    approximate=True,
    comparison="heavy drinking (> 50 g/day) vs non-drinkers",
    outcome="liver cancer",
    citation="Bagnardi V et al., Br J Cancer 2015;112:580-593 (meta-analysis)",
)
SMOKING_CURRENT = Effect(
    factor="current smoking",
    measure="odds_ratio",
    estimate=1.51,
    ci_95=(1.37, 1.67),
    approximate=True,
    comparison="current vs never smokers",
    outcome="hepatocellular carcinoma",
    citation="Lee YC et al., Int J Epidemiol 2009;38:1497-1511 (meta-analysis)",
)
SMOKING_FORMER = Effect(
    factor="former smoking",
    measure="odds_ratio",
    estimate=1.12,
    ci_95=(0.78, 1.60),
    approximate=True,
    comparison="former vs never smokers",
    outcome="hepatocellular carcinoma",
    citation="Lee YC et al., Int J Epidemiol 2009;38:1497-1511 (meta-analysis)",
)
DIABETES = Effect(
    factor="diabetes mellitus",
    measure="relative_risk",
    estimate=2.5,
    ci_95=None,
    approximate=True,
    comparison="diabetes vs none",
    outcome="hepatocellular carcinoma",
    citation="El-Serag HB et al., Clin Gastroenterol Hepatol 2006;4:369-380 (systematic review)",
)
OBESITY = Effect(
    factor="obesity (BMI >= 30 kg/m2)",
    measure="relative_risk",
    estimate=1.89,
    ci_95=(1.51, 2.36),
    approximate=True,
    comparison="BMI >= 30 vs normal weight",
    outcome="liver cancer",
    citation="Larsson SC, Wolk A, Br J Cancer 2007;97:1005-1008 (meta-analysis)",
)
HBV = Effect(
    factor="chronic hepatitis B (HBsAg positive)",
    measure="odds_ratio",
    estimate=22.5,
    ci_95=(19.5, 26.0),
    approximate=True,
    comparison="HBsAg positive vs negative",
    outcome="hepatocellular carcinoma",
    citation="Donato F et al., Int J Cancer 1998;75:347-354 (meta-analysis)",
)
HCV = Effect(
    factor="chronic hepatitis C (anti-HCV/HCV RNA positive)",
    measure="odds_ratio",
    estimate=17.3,
    ci_95=(13.9, 21.6),
    approximate=True,
    comparison="HCV positive vs negative",
    outcome="hepatocellular carcinoma",
    citation="Donato F et al., Int J Cancer 1998;75:347-354 (meta-analysis)",
)


def _entry(effect: Effect, present: bool | None) -> dict[str, Any]:
    return {
        "factor": effect.factor,
        "present": present,
        "measure": effect.measure,
        "estimate": effect.estimate,
        "ci_95": list(effect.ci_95) if effect.ci_95 else None,
        "approximate": effect.approximate,
        "comparison": effect.comparison,
        "outcome": effect.outcome,
        "citation": effect.citation,
    }


def _is(value: Any, wanted: Any) -> bool | None:
    return None if value is None else value == wanted


def _above(value: float | None, threshold: float, *, inclusive: bool) -> bool | None:
    if value is None:
        return None
    return value >= threshold if inclusive else value > threshold


def modifiers_evaluate(*, inputs: ModifierInputs) -> list[dict[str, Any]]:
    """Every modifier with this patient's status; effects are documentation, not adjustments."""
    return [
        _entry(PNPLA3_CG, _is(inputs.pnpla3_rs738409, "CG")),
        _entry(PNPLA3_GG, _is(inputs.pnpla3_rs738409, "GG")),
        _entry(
            TM6SF2_T,
            None if inputs.tm6sf2_rs58542926 is None else inputs.tm6sf2_rs58542926 in ("CT", "TT"),
        ),
        _entry(HSD17B13_HET, _is(inputs.hsd17b13_rs72613567, "T/TA")),
        _entry(HSD17B13_HOM, _is(inputs.hsd17b13_rs72613567, "TA/TA")),
        _entry(HFE_HOMOZYGOUS, _is(inputs.hfe_c282y, "homozygous")),
        _entry(ALCOHOL_HEAVY, _above(inputs.alcohol_g_per_day, ALCOHOL_HEAVY_G_PER_DAY, inclusive=False)),
        _entry(SMOKING_CURRENT, _is(inputs.smoking, "current")),
        _entry(SMOKING_FORMER, _is(inputs.smoking, "former")),
        _entry(DIABETES, inputs.diabetes),
        _entry(OBESITY, _above(inputs.bmi_kg_m2, OBESITY_BMI, inclusive=True)),
        _entry(HBV, inputs.hbv),
        _entry(HCV, inputs.hcv),
    ]


MODIFIER_FIELDS: dict[str, Parser] = {
    "pnpla3_rs738409": choice(get_args(Pnpla3)),
    "tm6sf2_rs58542926": choice(get_args(Tm6sf2)),
    "hsd17b13_rs72613567": choice(get_args(Hsd17b13)),
    "hfe_c282y": choice(get_args(HfeC282y)),
    "alcohol_g_per_day": number(0.0, 1000.0),
    "smoking": choice(get_args(Smoking)),
    "diabetes": boolean,
    "bmi_kg_m2": number(8.0, 150.0),
    "hbv": boolean,
    "hcv": boolean,
}


def modifier_inputs_parse(raw: Any, *, path: str = "modifiers") -> ModifierInputs:
    """Validate the request's ``modifiers`` object (unknown keys and values are rejected)."""
    fields = fields_parse(raw, parsers=MODIFIER_FIELDS, path=path)
    return ModifierInputs(**{name: value for name, value in fields.items() if value is not None})

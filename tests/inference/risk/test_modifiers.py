"""Genetic and lifestyle modifiers: documented effects with citations, never folded into scores."""

from __future__ import annotations

import pytest

from inference.risk.modifiers import ModifierInputs, modifier_inputs_parse, modifiers_evaluate


def present(inputs: ModifierInputs) -> dict[str, bool | None]:
    return {m["factor"]: m["present"] for m in modifiers_evaluate(inputs=inputs)}


def test_every_modifier_is_cited_with_an_effect() -> None:
    modifiers = modifiers_evaluate(inputs=ModifierInputs())
    assert len(modifiers) == 13
    for m in modifiers:
        assert m["present"] is None  # nothing stated, nothing assumed
        assert m["measure"] in {"relative_risk", "odds_ratio", "hazard_ratio"}
        assert m["estimate"] > 0 and m["citation"] and m["outcome"] and m["comparison"]
        assert m["ci_95"] is None or m["ci_95"][0] < m["estimate"] < m["ci_95"][1]
        assert isinstance(m["approximate"], bool)


@pytest.mark.parametrize(
    ("inputs", "factor", "expected"),
    [
        (ModifierInputs(pnpla3_rs738409="CC"), "PNPLA3 rs738409 GG", False),
        (ModifierInputs(pnpla3_rs738409="CG"), "PNPLA3 rs738409 CG (one G allele)", True),
        (ModifierInputs(pnpla3_rs738409="GG"), "PNPLA3 rs738409 GG", True),
        (ModifierInputs(tm6sf2_rs58542926="CT"), "TM6SF2 rs58542926 T allele (E167K)", True),
        (ModifierInputs(tm6sf2_rs58542926="CC"), "TM6SF2 rs58542926 T allele (E167K)", False),
        (ModifierInputs(hsd17b13_rs72613567="TA/TA"), "HSD17B13 rs72613567 TA/TA (protective)", True),
        (ModifierInputs(hsd17b13_rs72613567="T/TA"), "HSD17B13 rs72613567 T/TA (protective)", True),
        (ModifierInputs(hfe_c282y="heterozygous"), "HFE C282Y homozygous", False),
        (ModifierInputs(hfe_c282y="homozygous"), "HFE C282Y homozygous", True),
        (ModifierInputs(alcohol_g_per_day=50.0), "alcohol > 50 g/day", False),
        (ModifierInputs(alcohol_g_per_day=50.1), "alcohol > 50 g/day", True),
        (ModifierInputs(smoking="current"), "current smoking", True),
        (ModifierInputs(smoking="former"), "current smoking", False),
        (ModifierInputs(bmi_kg_m2=29.9), "obesity (BMI >= 30 kg/m2)", False),
        (ModifierInputs(bmi_kg_m2=30.0), "obesity (BMI >= 30 kg/m2)", True),
        (ModifierInputs(diabetes=True), "diabetes mellitus", True),
        (ModifierInputs(hbv=True), "chronic hepatitis B (HBsAg positive)", True),
        (ModifierInputs(hcv=False), "chronic hepatitis C (anti-HCV/HCV RNA positive)", False),
    ],
)
def test_presence(inputs: ModifierInputs, factor: str, expected: bool) -> None:
    assert present(inputs)[factor] is expected


def test_protective_variant_is_below_one() -> None:
    by_factor = {m["factor"]: m for m in modifiers_evaluate(inputs=ModifierInputs())}
    assert by_factor["HSD17B13 rs72613567 TA/TA (protective)"]["estimate"] < 1


def test_parse_accepts_nulls_and_rejects_unknowns() -> None:
    assert modifier_inputs_parse({"smoking": None, "diabetes": True}) == ModifierInputs(diabetes=True)
    for raw, code in (
        ({"pnpla3_rs738409": "AG"}, "invalid_choice"),
        ({"diabetes": "yes"}, "invalid_field"),
        ({"alcohol_g_per_day": -1}, "implausible_value"),
        ({"alcohol_g_per_day": "lots"}, "not_a_number"),
        ({"coffee": 3}, "unknown_field"),
    ):
        with pytest.raises(Exception) as caught:
            modifier_inputs_parse(raw)
        assert caught.value.code == code  # type: ignore[attr-defined]

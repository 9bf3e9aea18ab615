"""Pick the catalogue's words for one result: a score, a lab value, a genetic finding, a report.

Every function returns plain data (JSON-ready dicts) with the same four parts a patient
needs: what it measures, what this value means, what usually happens next, and questions to
ask; plus the source it rests on. A result the catalogue cannot explain is reported as
``explained: False`` with a neutral sentence, never shown raw.
"""

from __future__ import annotations

from typing import Any, Literal

from inference.explanations.catalogue import catalogue

LabFlag = Literal["low", "normal", "high", "unknown"]

UNEXPLAINED = "Your care team has not yet added an explanation for this result. Please ask them what it means for you."


def _common(entry: dict[str, Any]) -> dict[str, Any]:
    return {"name": entry["name"], "measures": entry["measures"], "next": entry["next"], "questions": list(entry["questions"])}


def _band(entry: dict[str, Any], value: float) -> dict[str, Any]:
    for band in entry["bands"]:
        if band["below"] is None or value < band["below"]:
            return dict(band)
    raise AssertionError("the last band is open")  # checked when the catalogue loads


def score_value_text(entry: dict[str, Any], value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value).replace("_", " ")
    if entry.get("percent"):
        return f"{value * 100:.1f} in 100"
    return f"{value:g}" if isinstance(value, int) or float(value).is_integer() else f"{value:.2f}"


def score_explain(score_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """One score result (as ``ScoreResult.as_dict()`` or a report's ``scores`` entry gives it)."""
    entry = catalogue()["scores"].get(score_id)
    if entry is None:
        return {"score": score_id, "explained": False, "meaning": UNEXPLAINED}
    computable = bool(result.get("computable"))
    value = result.get("value")
    category = result.get("category")
    explained: dict[str, Any] = {
        "score": score_id, "explained": True, **_common(entry), "computable": computable,
        "value": value, "category": category, "citation": entry["citation"],
        "guideline_version": entry["guideline_version"],
    }
    if not computable:
        explained["meaning"] = "There were not enough results to work this out yet."
        explained["band"] = None
        return explained
    explained["value_text"] = score_value_text(entry, value)
    if "categories" in entry:
        text = entry["categories"].get(str(category))
        explained["band"] = str(category) if text else None
        explained["meaning"] = text or UNEXPLAINED
        explained["explained"] = text is not None
    elif "bands" in entry and isinstance(value, int | float) and not isinstance(value, bool):
        band = _band(entry, float(value))
        explained["band"] = band["label"]
        explained["meaning"] = band["meaning"]
    elif "default_meaning" in entry:
        plain = (result.get("details") or {}).get("management_text") or str(category or value).replace("_", " ")
        explained["band"] = str(category) if category else None
        explained["meaning"] = entry["default_meaning"].format(category=plain)
    else:
        explained["band"] = None
        explained["meaning"] = UNEXPLAINED
        explained["explained"] = False
    return explained


def lab_explain(analyte_key: str, flag: LabFlag) -> dict[str, Any]:
    entry = catalogue()["labs"].get(analyte_key)
    if entry is None:
        return {"analyte": analyte_key, "explained": False, "meaning": UNEXPLAINED}
    meaning = entry[flag] if flag in ("low", "normal", "high") else "There is no usual range to compare this result with; your care team will explain it."
    return {"analyte": analyte_key, "explained": True, **_common(entry), "flag": flag, "meaning": meaning}


def _alleles(genotype: str) -> list[str]:
    text = genotype.replace(" ", "").upper()
    if "/" in text:
        return [part for part in text.split("/") if part]
    return list(text) if len(text) == 2 else []


def genetic_explain(*, gene: str, genotype: str = "", zygosity: str | None = None) -> dict[str, Any]:
    """A tested variant in words. The genotype is only ever shown beside this explanation."""
    entry = catalogue()["genetics"].get(gene.upper())
    if entry is None:
        return {"gene": gene, "explained": False, "meaning": UNEXPLAINED}
    risk = entry["risk_allele"].upper()
    alleles = _alleles(genotype)
    count: int | None
    if len(alleles) == 2:
        count = sum(allele == risk for allele in alleles)
    else:
        count = {"homozygous": 2, "heterozygous": 1, "hemizygous": 1}.get(zygosity or "")
    meaning = entry["by_risk_allele_count"][str(count)] if count is not None else UNEXPLAINED
    return {
        "gene": gene.upper(), "explained": count is not None, **_common(entry), "copies": count,
        "protective": bool(entry.get("protective")), "meaning": meaning,
    }


def modifier_explain(modifier: dict[str, Any]) -> dict[str, Any]:
    entry = catalogue()["modifiers"].get(modifier.get("factor", ""))
    if entry is None:
        return {"factor": modifier.get("factor"), "explained": False, "meaning": UNEXPLAINED}
    return {"factor": modifier["factor"], "explained": True, "meaning": entry["text"], "citation": entry["citation"]}


def report_explain(content: dict[str, Any]) -> dict[str, Any]:
    """A report's content as a patient reads it: each computable score explained, the factors
    that apply to them, and what the care team's recommendations are about. Model outputs
    (imaging findings, learned risk) are not shown as numbers: only the note that a computer
    analysis took part and that the care team checked it."""
    data = catalogue()
    scores = content.get("scores") or {}
    domains = data["recommendation_domains"]
    topics: list[dict[str, str]] = []
    for rec in content.get("recommendations") or []:
        domain = rec.get("domain", "")
        if domain in domains and domain not in {t["domain"] for t in topics}:
            topics.append({"domain": domain, "about": domains[domain]})
    used_models = bool(content.get("imaging_findings") or content.get("learned_risk") or content.get("models"))
    return {
        "scores": [score_explain(score_id, result) for score_id, result in scores.items() if result.get("computable")],
        "factors": [modifier_explain(m) for m in content.get("modifiers") or [] if m.get("present") is True],
        "topics": topics,
        "computer_analysis": data["general"]["computer_analysis"] if used_models else None,
    }


def catalogue_public() -> dict[str, Any]:
    """The catalogue as the API serves it."""
    return catalogue()

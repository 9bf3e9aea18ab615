"""The reviewed catalogue of patient explanations, loaded once and checked at load.

The wording lives in ``catalogue.json`` (data, reviewed as a whole and versioned); score
citations are not copied there but read from the score functions themselves, and modifier
citations from ``inference.risk.modifiers``, so an explanation always cites the source the
number was computed from. Loading fails loudly when a score, analyte or modifier the system
can show has no explanation.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from inference.risk.modifiers import ModifierInputs, modifiers_evaluate
from inference.risk.scores.registry import SCORES
from inference.risk.scores.types import ScoreInputs
from patients.units import analytes

CATALOGUE_PATH = Path(__file__).with_name("catalogue.json")
LAB_FLAGS = ("low", "normal", "high")


class CatalogueError(ValueError):
    """The explanation catalogue is incomplete or malformed."""


def score_citations() -> dict[str, dict[str, str]]:
    """Each score's citation and guideline version, as the score function reports them."""
    cited: dict[str, dict[str, str]] = {}
    for score_id, fn in SCORES.items():
        result = fn(ScoreInputs())
        cited[score_id] = {"citation": result.citation, "guideline_version": result.guideline_version}
    return cited


def modifier_citations() -> dict[str, str]:
    return {entry["factor"]: entry["citation"] for entry in modifiers_evaluate(inputs=ModifierInputs())}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CatalogueError(message)


def _check_common(kind: str, key: str, entry: dict[str, Any]) -> None:
    for field in ("name", "measures", "next", "questions"):
        _require(bool(entry.get(field)), f"{kind} {key}: '{field}' is missing")
    _require(
        isinstance(entry["questions"], list) and all(isinstance(q, str) and q for q in entry["questions"]),
        f"{kind} {key}: 'questions' must be a list of texts",
    )


def _check_bands(key: str, bands: list[dict[str, Any]]) -> None:
    _require(bool(bands), f"score {key}: empty bands")
    limits = [band["below"] for band in bands]
    _require(limits[-1] is None, f"score {key}: the last band must be open ('below': null)")
    numeric = limits[:-1]
    _require(all(isinstance(x, int | float) for x in numeric), f"score {key}: band limits must be numbers")
    _require(numeric == sorted(numeric), f"score {key}: band limits must rise")
    _require(all(band.get("meaning") and band.get("label") for band in bands), f"score {key}: band without text")


def catalogue_validate(data: dict[str, Any]) -> None:
    """Every score the registry computes, every catalogued analyte and every modifier is explained."""
    scores = data.get("scores", {})
    _require(set(scores) == set(SCORES), f"scores explained {sorted(scores)} differ from the registry {sorted(SCORES)}")
    for key, entry in scores.items():
        _check_common("score", key, entry)
        ways = [w for w in ("categories", "bands", "default_meaning") if w in entry]
        _require(len(ways) == 1, f"score {key}: give exactly one of categories, bands, default_meaning")
        if "bands" in entry:
            _check_bands(key, entry["bands"])
    labs = data.get("labs", {})
    analyte_keys = {analyte.key for analyte in analytes()}
    _require(set(labs) == analyte_keys, f"labs explained {sorted(labs)} differ from the analyte catalogue {sorted(analyte_keys)}")
    for key, entry in labs.items():
        _check_common("lab", key, entry)
        _require(all(entry.get(flag) for flag in LAB_FLAGS), f"lab {key}: needs low, normal and high texts")
    for gene, entry in data.get("genetics", {}).items():
        _check_common("gene", gene, entry)
        _require(set(entry.get("by_risk_allele_count", {})) == {"0", "1", "2"}, f"gene {gene}: needs texts for 0, 1 and 2 copies")
    known_factors = set(modifier_citations())
    modifiers = data.get("modifiers", {})
    _require(set(modifiers) == known_factors, f"modifiers explained differ from inference.risk.modifiers: {sorted(known_factors ^ set(modifiers))}")


@cache
def catalogue() -> dict[str, Any]:
    """The catalogue with citations filled in (read once per process)."""
    data: dict[str, Any] = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    catalogue_validate(data)
    cited = score_citations()
    for score_id, entry in data["scores"].items():
        entry.update(cited[score_id])
    factors = modifier_citations()
    data["modifiers"] = {factor: {"text": text, "citation": factors[factor]} for factor, text in data["modifiers"].items()}
    return data

"""Models declare their intended population in their cards; outside it the pipeline abstains."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydicom.dataset import Dataset

from inference.analysis import imaging
from inference.analysis.catalog import card_models
from inference.analysis.series_fetch import FetchedSeries
from inference.checks import model_registry_check
from inference.eligibility import (
    PopulationInvalid,
    age_years,
    inputs_check,
    population_check,
    population_parse,
)
from inference.registry import model_card_get, model_list
from inference.risk.learned.artefact import DEFAULT_ARTEFACT_ROOT, artefact_load

TODAY = dt.date(2026, 6, 1)


def _step(*, born: dt.date, model_key: str) -> Any:
    request = SimpleNamespace(patient=SimpleNamespace(birth_date=born), created_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    return SimpleNamespace(request=request, series_uid="1.2.3.4", model_key=model_key)


def _series(*, modality: str = "DX", view: str | None = "AP", study_date: str = "20260530") -> FetchedSeries:
    ds = Dataset()
    ds.StudyDate = study_date
    ds.Modality = modality
    if view is not None:
        ds.ViewPosition = view
    return FetchedSeries(datasets=[ds], modality=modality, sop_instance_uids=["1.2.3.4.5"])


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model never runs in these tests: a call records that it would have."""
    ran: list[str] = []

    def classify(**kwargs: Any) -> dict[str, Any]:
        ran.append("classify")
        return {"findings": {"ran": True}}

    monkeypatch.setattr(imaging, "runner_for", lambda key: classify)
    monkeypatch.setattr(imaging, "study_uid_for_series", lambda **kwargs: "1.2.3")
    return ran


def test_every_served_model_declares_its_population() -> None:
    for card in model_list(latest_only=True):
        assert card.population is not None, card.key
        population_parse(card.population)
    for key in ("hcv_stage", "hcv_binary", "ilpd", "pbc"):
        loaded = artefact_load(DEFAULT_ARTEFACT_ROOT, key)
        assert loaded.population is not None and loaded.inputs is not None, key
    assert not [p for p in model_registry_check() if p.id == "inference.E004"]


def test_an_adult_gets_an_abstention_from_the_paediatric_cxr_model(
    monkeypatch: pytest.MonkeyPatch, no_model: list[str]
) -> None:
    fetched: list[str] = []

    def fetch(**kwargs: Any) -> FetchedSeries:
        fetched.append("fetch")
        return _series()

    monkeypatch.setattr(imaging, "series_fetch", fetch)
    result = imaging.imaging_run(
        step=_step(born=dt.date(1970, 1, 1), model_key="cxr_pneumonia"), model=card_models()["cxr_pneumonia"],
        progress=lambda *args: None,
    )
    assert result["abstention"]["code"] == "age_outside_population"
    reason = result["abstention"]["reason"]
    assert reason.startswith("This model was developed on children aged 1-5 years")
    assert reason.endswith("; this patient is 56. No result is given.")
    assert result["findings"] == {} and result["model"]["key"] == "cxr_pneumonia"
    assert len(result["model"]["weights_sha256"]) == 64
    assert fetched == [] and no_model == []  # refused before the series is fetched or the model run


def test_a_lateral_view_is_refused_and_a_frontal_one_is_classified(
    monkeypatch: pytest.MonkeyPatch, no_model: list[str]
) -> None:
    step = _step(born=dt.date(2023, 3, 1), model_key="cxr_pneumonia")
    monkeypatch.setattr(imaging, "series_fetch", lambda **kwargs: _series(view="LL"))
    lateral = imaging.imaging_run(step=step, model=card_models()["cxr_pneumonia"], progress=lambda *args: None)
    assert lateral["abstention"]["code"] == "view_not_frontal" and no_model == []
    assert "it needs a frontal view (AP or PA), and this image's view position is LL" in lateral["abstention"]["reason"]
    assert lateral["sop_instance_uids"] == ["1.2.3.4.5"]
    monkeypatch.setattr(imaging, "series_fetch", lambda **kwargs: _series(view="AP"))
    frontal = imaging.imaging_run(step=step, model=card_models()["cxr_pneumonia"], progress=lambda *args: None)
    assert "abstention" not in frontal and no_model == ["classify"]


def test_age_is_taken_on_the_study_date() -> None:
    # Six on the analysis date, five on the day of the radiograph: inside the population.
    facts = imaging.series_facts(
        series=_series(study_date="20260101"), birth_date=dt.date(2020, 3, 1), fallback_date=TODAY
    )
    assert facts["age_years"] == 5 and facts["view_position"] == "AP" and facts["body_part"] is None
    assert population_check(model_card_get(key="cxr_pneumonia").population, facts) is None


def test_the_liver_model_is_for_adults() -> None:
    population = model_card_get(key="liver_ct_seg").population
    child = population_check(population, {"age_years": 9, "modality": "CT"})
    assert child is not None and child.code == "age_outside_population"
    # BodyPartExamined is often blank: allowed when absent, checked when stated.
    assert population_check(population, {"age_years": 60, "modality": "CT"}) is None
    head = population_check(population, {"age_years": 60, "modality": "CT", "body_part": "HEAD"})
    assert head is not None and head.code == "body_part_outside_population"


def test_imputed_share_above_the_card_limit_abstains() -> None:
    inputs = artefact_load(DEFAULT_ARTEFACT_ROOT, "hcv_stage").inputs
    assert inputs_check(inputs, present=["Age", "Sex"] + ["x"] * 7, imputed=["CHE", "CHOL", "PROT"], total=12) is None
    too_many = inputs_check(inputs, present=["Age", "Sex"], imputed=["CHE", "CHOL", "PROT", "ALP"], total=12)
    assert too_many is not None and too_many.code == "imputed_share_exceeded" and "4 of its 12" in too_many.reason
    assert "(cholinesterase, cholesterol, total protein and alkaline phosphatase)" in too_many.reason
    no_sex = inputs_check(inputs, present=["Age"], imputed=[], total=12)
    assert no_sex is not None and no_sex.code == "required_input_missing"
    assert no_sex.reason == "This model needs the patient's sex, which the record does not hold. No result is given."


# Data-set column names and internal field names a clinician must never read in a reason.
INTERNAL_NAMES = re.compile(r"\b[a-z]+_[a-z_]+\b|\b(?:CHE|CHOL|PROT|ALP|Sgpt|Sgot|Alkphos|A/G|TB|DB|Gender)\b|Not applied")


@pytest.mark.parametrize("key", ["cxr_pneumonia", "liver_ct_seg", "brain_mri_seg", "lung_nodule_ct"])
def test_imaging_abstentions_speak_to_a_clinician(key: str) -> None:
    population = model_card_get(key=key).population
    assert population is not None
    cases: list[dict[str, Any]] = [{"age_years": 0}, {"age_years": 130}, {"age_years": 40, "modality": "US"}, {}]
    cases += [{"age_years": 3 if key == "cxr_pneumonia" else 60, "modality": m, "body_part": "FOOT", "view_position": "LL"}
              for m in ("CT", "DX", "MR")]
    reasons = [a.reason for a in (population_check(population, facts) for facts in cases) if a is not None]
    assert len(reasons) >= 4
    for reason in reasons:
        assert reason.startswith("This model was developed on ") and reason.endswith(" No result is given."), reason
        assert not INTERNAL_NAMES.search(reason), (reason, INTERNAL_NAMES.findall(reason))


@pytest.mark.parametrize("key", ["hcv_stage", "hcv_binary", "ilpd", "pbc"])
def test_cohort_abstentions_speak_to_a_clinician(key: str) -> None:
    artefact = artefact_load(DEFAULT_ARTEFACT_ROOT, key)
    facts: list[dict[str, Any]] = [{"age_years": 2}, {"age_years": 99}, {"age_years": 50, "hcv_status": "negative", "known_cirrhosis": True,
                                                   "cholestatic_disease": False}, {}]
    reasons = [a.reason for a in (population_check(artefact.population, f) for f in facts) if a is not None]
    columns = [str(f["column"]) for f in artefact.payload["features"]]
    for imputed in (columns[2:], []):
        checked = inputs_check(artefact.inputs, present=columns[:1] if not imputed else columns[:2], imputed=imputed,
                               total=len(columns))
        if checked is not None:
            reasons.append(checked.reason)
    assert len(reasons) >= 4
    for reason in reasons:
        assert reason.endswith(" No result is given."), reason
        assert not INTERNAL_NAMES.search(reason), (reason, INTERNAL_NAMES.findall(reason))


def test_a_card_without_population_abstains_and_is_reported(tmp_path: Path) -> None:
    abstention = population_check(None, {"age_years": 40})
    assert abstention is not None and abstention.code == "population_not_declared"
    with pytest.raises(PopulationInvalid):
        population_parse({"description": "x", "criteria": [{"field": "age_years"}]})


def test_retraining_carries_the_population_card_forward(tmp_path: Path) -> None:
    from inference.risk.learned.artefact import artefact_save

    source = artefact_load(DEFAULT_ARTEFACT_ROOT, "ilpd")
    folder = tmp_path / "ilpd" / source.version
    folder.mkdir(parents=True)
    card = json.loads((source.path / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps(card))
    saved = artefact_save(tmp_path, {**source.payload, "version": "9.0.0"}, card_markdown="x", created_with="test")
    assert saved.card is not None and saved.card["population"] == card["population"]
    assert saved.card["version"] == "9.0.0"
    assert "`liver_disease_established`" in (saved.path / "MODEL_CARD.md").read_text()
    # A rerun of the same version keeps that version's own card, not an earlier one's.
    again = artefact_save(tmp_path, {**source.payload, "version": "9.0.0"}, card_markdown="x", created_with="test")
    assert again.card == saved.card
    assert age_years(dt.date(2000, 6, 2), TODAY) == 25


def test_retraining_an_imaging_model_keeps_its_declared_population(tmp_path: Path) -> None:
    from inference.registry import model_card_write

    source = model_card_get(key="cxr_pneumonia")
    shutil.copytree(source.directory, tmp_path / "cxr_pneumonia" / source.version)
    retrained = {k: v for k, v in source.data.items() if k != "population"}
    card = model_card_write(directory=tmp_path / "cxr_pneumonia" / "9.0.0", data={**retrained, "version": "9.0.0"}, markdown="x")
    assert card.population == source.population
    assert list(card.data).index("population") == list(card.data).index("intended_use") + 1
    assert "## Intended population" in (card.directory / "MODEL_CARD.md").read_text()

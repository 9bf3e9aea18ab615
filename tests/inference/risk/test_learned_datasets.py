"""Reading the cohort formats: ids, missing tokens, labels optional, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.risk.learned.datasets import EXCLUDED, FORMATS, cohort_read, outcome_encode, task_get
from inference.risk.learned.errors import InputInvalid, UnknownModel
from inference.risk.learned.features import HCV_FEATURES, feature_specs_fit, features_encode
from inference.training.risk.selection import duplicate_groups, holdout_split

HCV_HEAD = '"","Category","Age","Sex","ALB","ALP","ALT","AST","BIL","CHE","CHOL","CREA","GGT","PROT"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cohort.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_hcv_reads_empty_header_as_id_and_na_as_missing(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HCV_HEAD
        + '"12","0s=suspect Blood Donor",50,"m",NA,70,20,25,7,8,5,80,20,72\n'
        + '"13","3=Cirrhosis",60,"f",30,90,10,90,50,3,4,70,150,65\n',
    )
    cohort = cohort_read(FORMATS["hcv"], path, require_outcome=True)
    assert cohort.ids == ["12", "13"]
    assert np.isnan(cohort.values["ALB"][0]) and cohort.values["ALB"][1] == 30
    assert cohort.raw_labels == ["0s", "3"]
    # suspect donors are neither donor nor disease: excluded, never silently a donor
    assert outcome_encode(task_get("hcv_binary"), cohort).tolist() == [EXCLUDED, 1]
    assert outcome_encode(task_get("hcv_stage"), cohort).tolist() == [EXCLUDED, 3]
    stages = task_get("hcv_binary").stage_map
    assert outcome_encode(task_get("hcv_binary"), cohort, mapping=stages).tolist() == [EXCLUDED, 3]


def test_hcv_blood_donor_and_disease_stages_encode(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        HCV_HEAD
        + "".join(
            f'"{i}","{label}",50,"m",40,70,20,25,7,8,5,80,20,72\n'
            for i, label in enumerate(["0=Blood Donor", "1=Hepatitis", "2=Fibrosis", "3=Cirrhosis"])
        ),
    )
    cohort = cohort_read(FORMATS["hcv"], path, require_outcome=True)
    assert outcome_encode(task_get("hcv_binary"), cohort).tolist() == [0, 1, 1, 1]
    assert outcome_encode(task_get("hcv_stage"), cohort).tolist() == [0, 1, 2, 3]
    assert task_get("hcv_binary").stage_classes == task_get("hcv_stage").classes


def test_label_column_is_optional_for_prediction(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "Age,Gender,TB,DB,Alkphos,Sgpt,Sgot,TP,ALB,A/G\n40,Male,1,0.3,200,30,35,7,3.5,1\n"
    )
    cohort = cohort_read(FORMATS["ilpd"], path)
    assert cohort.raw_labels is None and cohort.ids is None and cohort.n_rows == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"1","0=Blood Donor",40,"m",45,abc,20,25,7,8,5,80,20,72\n', "ALP"),
        ('"1","0=Blood Donor",40,"x",45,70,20,25,7,8,5,80,20,72\n', "Sex"),
        ('"1","0=Blood Donor",40,"m",45,-70,20,25,7,8,5,80,20,72\n', "ALP"),
    ],
)
def test_malformed_values_raise_input_invalid(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(InputInvalid) as excinfo:
        cohort_read(FORMATS["hcv"], _write(tmp_path, HCV_HEAD + row))
    assert message in str(excinfo.value)
    assert excinfo.value.code == "risk_input_invalid"


def test_missing_column_and_empty_file_raise(tmp_path: Path) -> None:
    with pytest.raises(InputInvalid) as excinfo:
        cohort_read(FORMATS["ilpd"], _write(tmp_path, "Age,Gender\n40,Male\n"))
    assert "TB" in excinfo.value.detail["missing_columns"]
    with pytest.raises(InputInvalid):
        cohort_read(FORMATS["ilpd"], _write(tmp_path, ""))
    with pytest.raises(InputInvalid):
        cohort_read(FORMATS["ilpd"], tmp_path / "does-not-exist.csv")


def test_unknown_label_is_refused_for_training(tmp_path: Path) -> None:
    path = _write(tmp_path, HCV_HEAD + '"1","9=Other",40,"m",45,70,20,25,7,8,5,80,20,72\n')
    cohort = cohort_read(FORMATS["hcv"], path)
    with pytest.raises(InputInvalid):
        outcome_encode(task_get("hcv_binary"), cohort)


def test_unknown_model_key() -> None:
    with pytest.raises(UnknownModel) as excinfo:
        task_get("meld")
    assert excinfo.value.code == "risk_model_unknown"


def test_feature_pipeline_learns_on_training_rows_only() -> None:
    values = {
        "Age": np.array([30.0, 40.0, 50.0, np.nan]),
        "Sex": np.array(["m", "m", "f", None], dtype=object),
        **{
            c: np.array([10.0, 20.0, 40.0, np.nan])
            for c in ["ALB", "ALP", "ALT", "AST", "BIL", "CHE", "CHOL", "CREA", "GGT", "PROT"]
        },
    }
    specs = feature_specs_fit(HCV_FEATURES, values)
    by_name = {s.name: s for s in specs}
    assert by_name["Age"].impute_value == 40.0  # median of the observed values
    assert by_name["Sex_male"].impute_value == 1.0  # mode
    assert by_name["log_ALT"].clip_high == pytest.approx(np.log(40.0))
    enc = features_encode(specs, values)
    np.testing.assert_allclose(enc.z.mean(axis=0), 0.0, atol=1e-12)  # mean 0 on training rows
    assert enc.imputed[3].all() and not enc.imputed[:3].any()


def test_holdout_split_is_seeded_stratified_and_keeps_duplicates_together() -> None:
    values = {"x": np.array([1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0])}
    labels = ["a", "a", "a", "b", "a", "b", "a", "b", "a", "b", "a", "b"]
    groups = duplicate_groups(values, extra=labels)
    assert groups[0] == groups[1]
    train, test = holdout_split(labels, groups, seed=42, fraction=0.25)
    again = holdout_split(labels, groups, seed=42, fraction=0.25)
    assert train.tolist() == again[0].tolist() and test.tolist() == again[1].tolist()
    assert sorted(train.tolist() + test.tolist()) == list(range(12))
    assert (0 in test) == (1 in test)
    assert {labels[i] for i in test} == {"a", "b"}

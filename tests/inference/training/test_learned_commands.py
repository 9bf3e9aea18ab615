"""The management commands are thin: arguments in, package call, clear errors out."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.management.commands.train_risk_model import created_with_command
from inference.training.risk import classifier_train as training_classifier
from tests.inference.learned_synthetic import hcv_rows, write_hcv_csv

ILPD_ROWS = "Age,Gender,TB,DB,Alkphos,Sgpt,Sgot,TP,ALB,A/G\n50,Male,3.1,1.5,400,80,120,6.5,3.0,0.9\n"


def test_predict_risk_writes_one_row_per_input_row(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(ILPD_ROWS + "62,Female,0.8,0.2,180,20,25,7.0,3.6,1.1\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    stdout = io.StringIO()
    call_command("predict_risk", "ilpd", "--input", str(src), "--output", str(out), stdout=stdout)
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and "wrote 2 predictions" in stdout.getvalue()
    assert {"p_non_liver_patient", "p_liver_patient", "imputed", "top_contributions"} <= set(rows[0])


def test_predict_risk_refuses_malformed_input(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("Age,Gender,TB\n50,Male,abc\n", encoding="utf-8")
    with pytest.raises(CommandError, match="risk_input_invalid"):
        call_command("predict_risk", "ilpd", "--input", str(src), "--output", str(tmp_path / "o.csv"))
    src.write_text(ILPD_ROWS.replace("Male", "Robot"), encoding="utf-8")
    with pytest.raises(CommandError, match="Gender"):
        call_command("predict_risk", "ilpd", "--input", str(src), "--output", str(tmp_path / "o.csv"))


def test_predict_risk_unknown_version(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(ILPD_ROWS, encoding="utf-8")
    with pytest.raises(CommandError, match="risk_artefact_missing"):
        call_command(
            "predict_risk",
            "ilpd",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "o.csv"),
            "--model-version",
            "9.9.9",
        )


def test_train_risk_model_on_synthetic_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_classifier, "CV_REPEATS", 2)  # the command, not CV precision
    data = write_hcv_csv(tmp_path / "hcv.csv", hcv_rows(seed=11))
    stdout = io.StringIO()
    call_command(
        "train_risk_model",
        "hcv_stage",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "art"),
        "--seed",
        "7",
        stdout=stdout,
    )
    manifest = json.loads((tmp_path / "art" / "hcv_stage" / "2.0.0" / "manifest.json").read_text())
    assert manifest["created_with"] == (
        f"python manage.py train_risk_model hcv_stage --data {data} --seed 7 --out {tmp_path / 'art'}"
    )
    assert "macro AUROC" in stdout.getvalue()


def test_created_with_command_defaults() -> None:
    assert (
        created_with_command(key="pbc", data=None, seed=42, out=None, version="1.0.0")
        == "python manage.py train_risk_model pbc --seed 42"
    )
    # the default version is each model's current one; any other is spelled out
    assert (
        created_with_command(key="hcv_binary", data=None, seed=42, out=None, version=None)
        == "python manage.py train_risk_model hcv_binary --seed 42"
    )
    assert created_with_command(key="hcv_binary", data=None, seed=42, out=None, version="1.0.0").endswith(
        "--seed 42 --model-version 1.0.0"
    )

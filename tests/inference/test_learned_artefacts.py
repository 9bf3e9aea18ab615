"""The committed artefacts load (hash verified) and score hand-written rows in each format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from inference.risk.learned.artefact import DEFAULT_ARTEFACT_ROOT, MANIFEST_FILE, artefact_load, sha256_hex
from inference.risk.learned.batch import risk_predict_file
from inference.risk.learned.datasets import MODEL_KEYS

HCV_CSV = """\
"","Category","Age","Sex","ALB","ALP","ALT","AST","BIL","CHE","CHOL","CREA","GGT","PROT"
"9001","0=Blood Donor",41,"m",45.2,68.1,21.3,23.9,6.2,9.4,5.1,82,19.5,73.1
"9002","3=Cirrhosis",63,"f",27.5,NA,14.1,118.4,96.0,2.3,3.7,71,160.2,64.8
"9003","0=Blood Donor",35,"f",NA,59.0,15.5,20.1,5.0,8.0,NA,66,12.0,NA
"""
HCV_NO_LABEL_CSV = """\
"","Age","Sex","ALB","ALP","ALT","AST","BIL","CHE","CHOL","CREA","GGT","PROT"
"9002",63,"f",27.5,NA,14.1,118.4,96.0,2.3,3.7,71,160.2,64.8
"9001",41,"m",45.2,68.1,21.3,23.9,6.2,9.4,5.1,82,19.5,73.1
"""
ILPD_CSV = """\
Age,Gender,TB,DB,Alkphos,Sgpt,Sgot,TP,ALB,A/G,Selector
55,Male,7.5,3.9,610,145,210,6.1,2.6,0.7,1
30,Female,0.7,0.2,160,18,20,7.2,3.9,
"""
PBC_CSV = """\
ID,N_Days,Status,Drug,Age,Sex,Ascites,Hepatomegaly,Spiders,Edema,Bilirubin,Cholesterol,Albumin,Copper,Alk_Phos,SGOT,Tryglicerides,Platelets,Prothrombin,Stage
7001,900,D,Placebo,23741,F,Y,Y,Y,Y,12.5,400,2.5,200,2500,170,150,120,13.0,4
7002,4000,C,D-penicillamine,14610,F,N,N,N,N,0.6,250,3.9,30,800,70,90,280,10.0,1
7003,2000,C,NA,20089,M,NA,NA,NA,N,1.4,NA,3.5,NA,NA,NA,NA,NA,NA,NA
"""


def _predict(tmp_path: Path, key: str, text: str) -> list[dict[str, str]]:
    src, out = tmp_path / f"{key}.csv", tmp_path / f"{key}_preds.csv"
    src.write_text(text, encoding="utf-8")
    risk_predict_file(key=key, input_path=src, output_path=out)
    with out.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_committed_artefact_matches_manifest(key: str) -> None:
    loaded = artefact_load(DEFAULT_ARTEFACT_ROOT, key)
    folder = DEFAULT_ARTEFACT_ROOT / key / loaded.version
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["sha256"] == sha256_hex((folder / "model.json").read_bytes()) == loaded.sha256
    assert manifest["created_with"].startswith(f"python manage.py train_risk_model {key}")
    card = (folder / "MODEL_CARD.md").read_text()
    assert loaded.sha256 in card and "supports, and never replaces" in card


def test_hcv_binary_committed(tmp_path: Path) -> None:
    rows = _predict(tmp_path, "hcv_binary", HCV_CSV)
    assert [r["id"] for r in rows] == ["9001", "9002", "9003"]
    assert float(rows[0]["p_hcv_disease"]) < 0.2
    assert float(rows[1]["p_hcv_disease"]) > 0.8
    assert rows[1]["imputed"] == "ALP"
    assert rows[2]["imputed"] == "ALB;CHOL;PROT"
    assert rows[0]["imputed"] == ""


def test_hcv_stage_committed_without_labels(tmp_path: Path) -> None:
    rows = _predict(tmp_path, "hcv_stage", HCV_NO_LABEL_CSV)
    assert [r["id"] for r in rows] == ["9002", "9001"]
    classes = ["donor", "hepatitis", "fibrosis", "cirrhosis"]
    probs = [[float(r[f"p_{c}"]) for c in classes] for r in rows]
    for p in probs:
        assert sum(p) == pytest.approx(1.0, abs=1e-5)
    assert max(range(4), key=lambda k: probs[0][k]) == 3  # the cirrhosis-like row
    assert rows[0]["contributions_for"] == "cirrhosis"
    assert max(range(4), key=lambda k: probs[1][k]) == 0


def test_ilpd_committed(tmp_path: Path) -> None:
    rows = _predict(tmp_path, "ilpd", ILPD_CSV)
    assert [r["row"] for r in rows] == ["1", "2"]
    assert "id" not in rows[0] and "ID" not in rows[0]  # the ILPD format has no id column
    assert float(rows[0]["p_liver_patient"]) > float(rows[1]["p_liver_patient"])
    assert rows[1]["imputed"] == "A/G"


def test_pbc_committed(tmp_path: Path) -> None:
    rows = _predict(tmp_path, "pbc", PBC_CSV)
    assert [r["ID"] for r in rows] == ["7001", "7002", "7003"]
    high, low = rows[0], rows[1]
    assert float(high["risk_score"]) > 0 > float(low["risk_score"])
    assert 0 <= float(low["p_death_5y"]) < float(high["p_death_5y"]) <= 1
    assert "Prothrombin" in rows[2]["imputed"]
    assert high["contributions_for"] == "log_hazard_death"

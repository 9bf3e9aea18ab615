"""The brain_mri_seg ablation code on synthetic cases (no data set): loading, the three arms, the
leave-one-case-out bookkeeping, the CI and the card table. Two iterations per arm: code paths, not skill."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from inference.training.imaging import brain
from tests.inference.brain_fixture import nifti_case_write


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[brain.Case]:
    torch.set_num_threads(1)  # the machines are shared; one thread trains these tiny arms as fast
    root = tmp_path_factory.mktemp("brats")
    loaded = []
    for seed in (0, 1):
        folder = root / f"synthetic_{seed}"
        case = nifti_case_write(folder, seed=seed, t1c_other_grid=False)
        ras = np.ascontiguousarray(case["labels"].transpose(2, 1, 0)[::-1, ::-1, :])
        nib.save(nib.Nifti1Image(ras, case["affine"]), str(folder / "OTMultiClass.nii.gz"))
        loaded.append(brain.case_load(folder))
    assert [p.name for p in brain.cases_find(root)] == ["synthetic_0", "synthetic_1"]
    return loaded


def test_case_is_prepared_on_the_network_field(cases: list[brain.Case]) -> None:
    case = cases[0]
    assert case.field_x.shape[1:] == (2, brain.FIELD, brain.FIELD)
    assert case.field_y.shape[0] == case.field_x.shape[0]
    assert set(np.unique(case.field_y.numpy())) <= {0, 1, 2, 4}
    assert case.tumour_slices.size > 0


def test_every_arm_trains_and_is_scored(cases: list[brain.Case], tmp_path: Path) -> None:
    results = brain.cross_validate(
        cases, seed=0, iterations=2, arms=list(brain.ARMS), log=lambda line: None, results_path=tmp_path / "cv.json"
    )
    assert len(results["folds"]) == 2 * len(brain.ARMS)
    assert set(results["folds"]["eunetpp/synthetic_0"]["robustness"]) == {f"{k}={a:g}" for k, a in brain.ROBUSTNESS}
    table = brain.summarise(results, [c.name for c in cases])
    assert set(table) == {*brain.ARMS, "paired_difference_eunetpp_minus_unetpp"}
    winner = brain.winner_of(table)
    assert winner in brain.ARMS
    data = brain.card_data(arm=winner, weights={"file": "weights.pt", "sha256": "0" * 64, "bytes": 1},
                           table=table, settings={"seed": 0, "iterations": 2}, command="python manage.py train_model x")
    markdown = brain.card_markdown(data)
    assert "| U-Net |" in markdown and "| U-Net++ |" in markdown and "| E-U-Net++ |" in markdown
    assert "Robustness" in markdown and "CC BY-NC-SA" in markdown


def test_mean_ci_is_a_t_interval() -> None:
    ci = brain.mean_ci([0.8, 0.9, 0.7, 0.6])
    assert ci["mean"] == pytest.approx(0.75)
    half = 3.182 * np.std([0.8, 0.9, 0.7, 0.6], ddof=1) / 2
    assert ci["ci95"] == pytest.approx([0.75 - half, 0.75 + half], abs=1e-4)
    assert brain.mean_ci([]) == {"mean": None, "ci95": None, "n": 0}
    assert brain.winner_of({"unet": {"whole_tumour": {"mean": 0.8}}, "unetpp": {"whole_tumour": {"mean": 0.8}}}) == "unet"

"""brain_mri_seg: the committed artefact, the runtime on a synthetic FLAIR + T1c case, the CLI, the SEG
and the finding it proposes. No data set needed: the case is made in the test (tests/inference/brain_fixture.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.findings.services import _proposals
from inference.registry import model_card_get, model_weights_verify
from inference.runtime.brain import location_of, t1c_on_flair_grid
from inference.runtime.io import Volume, nifti_read
from tests.inference.brain_fixture import dicom_study, nifti_case_write


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("brain") / "case"
    nifti_case_write(folder)
    return folder


@pytest.fixture(scope="module")
def cli_out(case_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("brain-out")
    call_command("run_model", "brain_mri_seg", "-i", str(case_dir), "-o", str(out), "--quiet", "--threads", "1")
    return out


def test_card_declares_inputs_population_licence_and_metrics() -> None:
    card = model_card_get(key="brain_mri_seg")
    assert card.task == "segmentation" and card.data["modality"] == ["MR"]
    assert card.data["inputs_series"] == ["FLAIR", "T1c"]
    assert card.population is not None and card.population["criteria"][0]["min"] == 18
    assert "CC BY-NC-SA" in card.data["training"]["data"][0]["licence"]
    assert card.classes == ["background", "necrosis", "oedema", "non-enhancing tumour", "enhancing tumour"]
    assert model_weights_verify(card=card).stat().st_size < 5_000_000
    for region in ("whole_tumour_dice", "tumour_core_dice", "enhancing_tumour_dice"):
        assert region in card.data["metrics"]
    assert "train_model brain_mri_seg" in card.data["metrics"]["command"] or "provisional" in card.data["metrics"]["command"]
    markdown = (card.directory / "MODEL_CARD.md").read_text()
    assert "CC BY-NC-SA" in markdown and "Intended use" in markdown


def test_cli_writes_labels_in_the_flair_geometry_and_findings(case_dir: Path, cli_out: Path) -> None:
    flair: Any = nib.load(str(case_dir / "Flair_synthetic.nii.gz"))
    labels: Any = nib.load(str(cli_out / "labels.nii.gz"))
    assert labels.shape == flair.shape
    np.testing.assert_allclose(labels.affine, flair.affine, atol=1e-6)
    data = np.asarray(labels.dataobj)
    assert data.dtype == np.uint8 and set(np.unique(data)) <= {0, 1, 2, 3, 4}
    findings = json.loads((cli_out / "findings.json").read_text())
    assert findings["model"]["key"] == "brain_mri_seg" and len(findings["model"]["weights_sha256"]) == 64
    assert findings["disclaimer"] == "supports, not replaces, clinical judgement"
    voxel_ml = float(np.prod(flair.header.get_zooms()[:3])) / 1000
    for name, values in (("whole_tumour", (1, 2, 3, 4)), ("tumour_core", (1, 3, 4)), ("enhancing_tumour", (4,))):
        volume = findings["regions"][name]["volume"]
        assert volume["unit"] == "mL"
        assert volume["value"] == pytest.approx(np.isin(data, values).sum() * voxel_ml, abs=0.01)
    assert findings["location"]["lobe"] is None and "atlas" in findings["location"]["lobe_note"]


def test_synthetic_tumour_found_on_the_patient_left(cli_out: Path) -> None:
    # The synthetic glioma sits 30 mm left of the midline; its oedema shell is 33.5 mL.
    findings = json.loads((cli_out / "findings.json").read_text())
    assert findings["tumour_detected"] is True
    assert findings["location"]["hemisphere"] == "left"
    assert findings["location"]["centroid_patient_lps"]["value"][0] > 10
    assert 5 < findings["regions"]["whole_tumour"]["volume"]["value"] < 150


def test_case_folder_without_t1c_is_refused_with_a_code(tmp_path: Path) -> None:
    nifti_case_write(tmp_path / "case")
    (tmp_path / "case" / "T1c_synthetic.nii.gz").unlink()
    with pytest.raises(CommandError, match="input_series_missing"):
        call_command("run_model", "brain_mri_seg", "-i", str(tmp_path / "case"), "-o", str(tmp_path / "out"), "--quiet")


def test_t1c_on_another_grid_is_resampled_onto_the_flair(tmp_path: Path) -> None:
    nifti_case_write(tmp_path / "a", t1c_other_grid=True)
    nifti_case_write(tmp_path / "b", t1c_other_grid=False)
    flair = nifti_read(tmp_path / "a" / "Flair_synthetic.nii.gz")
    resampled = t1c_on_flair_grid(flair=flair, t1c=nifti_read(tmp_path / "a" / "T1c_synthetic.nii.gz"))
    same = t1c_on_flair_grid(flair=flair, t1c=nifti_read(tmp_path / "b" / "T1c_synthetic.nii.gz"))
    np.testing.assert_allclose(resampled, same, atol=1e-3)


def test_hemisphere_from_the_affine() -> None:
    shape = (40, 20, 10)
    head = np.zeros(shape, dtype=bool)
    head[5:35] = True
    tumour = np.zeros(shape, dtype=bool)
    tumour[8:12, 8:12, 4:6] = True  # low i
    ras = np.diag([2.0, 2.0, 2.0, 1.0])  # i towards the patient's right: low i is the left
    lps = np.diag([-2.0, -2.0, 2.0, 1.0])  # i towards the patient's left
    assert location_of(tumour_ijk=tumour, foreground_ijk=head, affine_ras=ras)["hemisphere"] == "left"
    assert location_of(tumour_ijk=tumour, foreground_ijk=head, affine_ras=lps)["hemisphere"] == "right"
    middle = np.zeros(shape, dtype=bool)
    middle[19:21, 8:12, 4:6] = True
    assert location_of(tumour_ijk=middle, foreground_ijk=head, affine_ras=ras)["hemisphere"] == "midline"


def test_brain_seg_has_the_four_brats_segments() -> None:
    from inference.runtime.brain_dicom import seg_dicom_brain_from_volume
    from inference.runtime.io import dicom_series_from_datasets

    study = dicom_study(patient_id="SYN-1")
    for ds in study["flair"]:
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    volume: Volume = dicom_series_from_datasets(study["flair"])
    labels = study["case"]["labels"].copy()
    labels[0, 0, 0] = 3
    model = {"key": "brain_mri_seg", "version": "1.0.0", "weights_sha256": "0" * 64}
    seg = seg_dicom_brain_from_volume(labels_zyx=labels, volume=volume, model=model)
    names = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    assert names == ["Necrosis", "Peritumoural oedema", "Non-enhancing tumour", "Enhancing tumour"]
    assert [str(s.SegmentedPropertyTypeCodeSequence[0].CodeValue) for s in seg.SegmentSequence] == [
        "6574001", "79654002", "108369006", "108369006"]
    assert str(seg.SegmentSequence[0].AnatomicRegionSequence[0].CodeMeaning) == "Brain"
    assert seg.ContentLabel == "BRAINTUMOURSEG"
    assert str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID) == study["flair_series_uid"]


def test_the_tumour_is_proposed_as_one_finding() -> None:
    result: dict[str, Any] = {"kind": "segmentation", "findings": {
        "tumour_detected": True,
        "regions": {"whole_tumour": {"volume": {"value": 40.5, "unit": "mL"}},
                    "tumour_core": {"volume": {"value": 12.0, "unit": "mL"}},
                    "enhancing_tumour": {"volume": {"value": 6.25, "unit": "mL"}}},
        "location": {"hemisphere": "left"}}}
    (proposal,) = _proposals(result)
    kind, ref, label, values = proposal
    assert (kind, ref, label) == ("segmentation", "brain_tumour", "brain_tumour")
    assert values == {"volume_ml": 40.5, "tumour_core_ml": 12.0, "enhancing_tumour_ml": 6.25, "hemisphere": "left"}
    assert _proposals({"kind": "segmentation", "findings": {"tumour_detected": False}}) == []


def test_series_roles_and_partner_choice() -> None:
    from inference.analysis.runners.brain_mri_seg import (
        PartnerSeriesMissing,
        SeriesRoleUnknown,
        partner_choose,
        series_role,
    )

    roles = model_card_get(key="brain_mri_seg").data["series_roles"]
    assert series_role("AX FLAIR", roles) == "FLAIR"
    assert series_role("T1 FLAIR POST", roles) == "FLAIR"
    assert series_role("AX T1 POST GAD", roles) == "T1c"
    assert series_role("T1c_subtrMeanDivStd", roles) == "T1c"
    assert series_role("AX T1", roles) is None
    study = [("1", "MR", "AX FLAIR"), ("2", "MR", "AX T1"), ("3", "MR", "AX T1 +C"), ("4", "SEG", "T1 POST seg")]
    assert partner_choose(chosen_uid="1", chosen_description="AX FLAIR", study_series=study, roles=roles) == ("FLAIR", "3")
    assert partner_choose(chosen_uid="3", chosen_description="AX T1 +C", study_series=study, roles=roles) == ("T1c", "1")
    with pytest.raises(SeriesRoleUnknown):
        partner_choose(chosen_uid="2", chosen_description="AX T1", study_series=study, roles=roles)
    with pytest.raises(PartnerSeriesMissing):
        partner_choose(chosen_uid="1", chosen_description="AX FLAIR", study_series=study[:2], roles=roles)

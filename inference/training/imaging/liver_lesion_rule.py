"""Lesion-level decision rule of ``liver_ct_seg``: calibration on development cases and the
leave-one-case-out table of the card.

The network is run once per case (registered weights, the card's test-time augmentation) and its
outputs (raw labels, lesion probability, TTA votes; uint8) are cached under ``var/liver_lesion_rule``
keyed by the weights' SHA-256, so that the rule can be refitted and re-scored without another
forward pass (30-300 s per CT on a CPU). Every candidate lesion (a connected lesion component after
the registered clean-up) is described by the features of
:func:`inference.runtime.postprocessing.lesion_candidates`, matched against the reference labels
(a candidate that overlaps a true lesion is a true positive), and the rule
(:func:`inference.runtime.postprocessing.lesion_rule_passes`) is chosen on the other cases only,
then applied to the case left out.

Cases (``../shared/data``): 3D-IRCADb-01 1.1 (7 tumours) and 1.7 (no tumour; an extra-hepatic mass
beside the liver), the LiTS 117 liver ROI (many tumours; its geometry is unknown, a nominal spacing
is assumed, see :data:`LITS_SPACING_MM`) and the TotalSegmentator example CT (no lesion label; used
as a lesion-free hard negative; it is the same image as the demo CT ``imaging/demo_data/ct-abdomen``).

Run: ``python manage.py liver_lesion_rule --data ../shared/data`` (``--card`` writes the result into
the registered card).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from sklearn.linear_model import LogisticRegression

from inference.registry import (
    ARTEFACT_ROOT,
    CARD_FILE,
    MODEL_CARD_MD,
    model_card_get,
    model_card_parse,
    sha256_file,
)
from inference.runtime.io import nifti_read
from inference.runtime.liver import segment_volume
from inference.runtime.postprocessing import (
    RULE_FEATURES,
    LesionCandidate,
    dice,
    labels_clean,
    lesion_candidates,
    lesion_confidence,
    lesion_rule_reason,
)
from inference.runtime.predictor import model_load
from inference.training.imaging.liver import extra_liver_load, patient_load, patients_find

KEY = "liver_ct_seg"
CACHE_DIR = Path("var/liver_lesion_rule")
# LiTS 117 was cropped to the liver's bounding box and resampled to 128^3 without keeping its
# geometry. 1.5 mm isotropic makes the labelled liver (incl. tumours) 2.08 L and its box 192 mm wide,
# the size of an adult liver; volumes of that case are therefore approximate.
LITS_SPACING_MM = (1.5, 1.5, 1.5)


@dataclass(frozen=True)
class RuleCase:
    """One development case: CT in the internal orientation, reference labels (0/1/2) and its role."""

    name: str
    hu: NDArray[Any]
    spacing: tuple[float, float, float]
    labels: NDArray[np.uint8]
    role: str  # "lesions": lesion labels to score; "negative": no lesion is the truth
    note: str = ""


def cases_load(data_root: Path) -> list[RuleCase]:
    """The development cases under ``data_root`` (the layout of ``../shared/data``)."""

    def loaded(p: dict[str, Any], role: str, note: str) -> RuleCase:
        return RuleCase(name=p["name"], hu=p["hu"], spacing=p["spacing"], labels=p["labels"], role=role, note=note)

    cases: list[RuleCase] = []
    for folder in patients_find(data_root / "ct-liver-ircadb"):
        p = patient_load(folder)
        has = bool((p["labels"] == 2).any())
        cases.append(loaded(p, "lesions" if has else "negative",
                            "" if has else "no liver tumour (extra-hepatic mass beside the liver)"))
    lits = data_root / "ct-liver-lits-roi" / "lits117-roi128"
    if lits.is_dir():
        hu, _ = nifti_read(lits / "image.nii.gz").internal()
        labels, _ = nifti_read(lits / "labels_liver1_tumour2.nii.gz").internal()
        cases.append(
            RuleCase(
                name="lits117-roi",
                hu=np.ascontiguousarray(hu, dtype=np.float32),
                spacing=LITS_SPACING_MM,
                labels=np.rint(labels).astype(np.uint8),
                role="lesions",
                note=f"liver ROI crop resampled to 128^3, geometry unknown: {LITS_SPACING_MM} mm assumed",
            )
        )
    ts = data_root / "ct-totalsegmentator-example"
    if ts.is_dir():
        cases.append(loaded(extra_liver_load(ts), "negative",
                            "liver label model-made, no lesion labelled; the same image as the demo CT"))
    return cases


def outputs_cached(
    *, case: RuleCase, log: Callable[[str], None] = print
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], dict[str, Any]]:
    """Raw labels, lesion probability (uint8) and TTA votes of the registered model on ``case``:
    from the cache when the same weights produced them, else one forward pass (then cached)."""
    model = model_load(key=KEY)
    sha = model.card.weights_sha256
    tta = list(model.card.data["postprocessing"].get("tta", ["identity"]))
    path = CACHE_DIR / f"{case.name}_{sha[:16]}_{'-'.join(tta)}.npz"
    if path.exists():
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            return f["raw"], f["lesion_prob"], f["votes"], meta
    t0 = time.time()
    raw, prob, votes = segment_volume(
        net=model.net,
        device=model.device,
        volume_hu=case.hu,
        spacing_mm=case.spacing,
        preprocessing=model.card.data["preprocessing"],
        tta=tta,
        batch=int(model.card.data["postprocessing"].get("batch", 8)),
    )
    meta = {"weights_sha256": sha, "tta": tta, "seconds": round(time.time() - t0, 1), "shape": list(raw.shape)}
    log(f"{case.name}: network {meta['seconds']} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, raw=raw, lesion_prob=prob, votes=votes, meta=np.array(json.dumps(meta)))
    return raw, prob, votes, meta


# A priori plausibility guards (not tuned): a focal lesion is bounded within the scan, and a
# "lesion" over half the liver is a diffuse change or a segmentation failure, not a focal proposal.
GUARDS: dict[str, Any] = {"spans_scan": True, "max_liver_fraction": 0.5}
# A false lesion costs twice a missed one when the minimum confidence is chosen (a proposal costs
# a radiologist's time and, unreviewed, a wrong stage; a miss is what the model is not validated for).
FALSE_LESION_COST = 2.0
REGULARISATION_C = 1.0
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))


@dataclass
class CaseCandidates:
    """A case's candidate lesions under the registered clean-up, matched against its reference."""

    name: str
    role: str
    note: str
    candidates: list[LesionCandidate]
    hits: list[set[int]]  # per candidate: the reference lesions it overlaps
    overlap_voxels: list[int]  # per candidate: its voxels on reference lesion
    gt_ml: list[float]  # per reference lesion (26-connected component)
    gt_voxels: int
    voxel_ml: float
    liver_dice: float
    min_lesion_ml: float

    @property
    def eligible(self) -> list[int]:
        """Reference lesions the pipeline could propose at all (at least its minimum lesion volume)."""
        return [k for k, ml in enumerate(self.gt_ml, start=1) if ml >= self.min_lesion_ml]

    def truth(self) -> NDArray[np.bool_]:
        return np.array([bool(h) for h in self.hits], dtype=bool)

    def features(self) -> NDArray[np.float64]:
        return np.array([[c.features[n] for n in RULE_FEATURES] for c in self.candidates], dtype=np.float64).reshape(
            -1, len(RULE_FEATURES)
        )


def case_candidates(
    *,
    case: RuleCase,
    raw: NDArray[np.uint8],
    lesion_prob: NDArray[np.uint8],
    votes: NDArray[np.uint8],
    n_tta: int,
    postprocessing: dict[str, Any],
) -> CaseCandidates:
    labels = labels_clean(raw, spacing=case.spacing, settings=postprocessing)
    cands = lesion_candidates(
        labels=labels,
        volume_hu=case.hu,
        spacing=case.spacing,
        lesion_prob_u8=lesion_prob,
        lesion_votes=votes,
        n_tta=n_tta,
    )
    voxel_ml = float(np.prod(case.spacing)) / 1000.0
    gt_comp, n_gt = ndimage.label(case.labels == 2, structure=np.ones((3, 3, 3), bool))
    gt_ml = [float(v) * voxel_ml for v in np.bincount(gt_comp.ravel(), minlength=n_gt + 1)[1:]]
    hits, overlap = [], []
    for c in cands:
        under = gt_comp[c.box][c.mask]
        hits.append({int(k) for k in np.unique(under) if k})
        overlap.append(int((under > 0).sum()))
    return CaseCandidates(
        name=case.name,
        role=case.role,
        note=case.note,
        candidates=cands,
        hits=hits,
        overlap_voxels=overlap,
        gt_ml=gt_ml,
        gt_voxels=int((case.labels == 2).sum()),
        voxel_ml=voxel_ml,
        liver_dice=dice(labels > 0, case.labels > 0),
        min_lesion_ml=float(postprocessing.get("min_lesion_ml", 0.0)),
    )


def _guarded(c: LesionCandidate) -> bool:
    return lesion_rule_reason(c.features, 1.0, rule={"guards": GUARDS, "min_confidence": 0.0}) is not None


def case_score(cc: CaseCandidates, proposed: list[bool]) -> dict[str, Any]:
    """Lesion-level detection, false lesions and lesion Dice of the proposed candidates of a case."""
    detected = set().union(*[h for h, p in zip(cc.hits, proposed, strict=True) if p]) if cc.hits else set()
    eligible = cc.eligible
    false_ml = [
        round(c.features["volume_ml"], 2)
        for c, h, p in zip(cc.candidates, cc.hits, proposed, strict=True)
        if p and not h
    ]
    pred_vox = sum(int(c.mask.sum()) for c, p in zip(cc.candidates, proposed, strict=True) if p)
    inter = sum(o for o, p in zip(cc.overlap_voxels, proposed, strict=True) if p)
    has_gt = cc.role == "lesions"
    large = [k for k in eligible if cc.gt_ml[k - 1] >= 1.0]
    return {
        "lesions_proposed": int(sum(proposed)),
        "lesions_true": len(eligible) if has_gt else 0,
        "lesions_detected": len(detected & set(eligible)) if has_gt else 0,
        "lesions_true_1ml": len(large) if has_gt else 0,
        "lesions_detected_1ml": len(detected & set(large)) if has_gt else 0,
        "sensitivity": round(len(detected & set(eligible)) / len(eligible), 3) if has_gt and eligible else None,
        "false_positive_lesions": len(false_ml),
        "false_lesion_ml": false_ml,
        "lesion_dice": round(2.0 * inter / (pred_vox + cc.gt_voxels), 4) if has_gt and cc.gt_voxels else None,
        "true_lesion_ml": [round(cc.gt_ml[k - 1], 2) for k in eligible] if has_gt else [],
        "true_lesion_detected": [k in detected for k in eligible] if has_gt else [],
    }


def _utility(cc: CaseCandidates, proposed: list[bool]) -> float:
    s = case_score(cc, proposed)
    return float(s["lesions_detected"]) - FALSE_LESION_COST * float(s["false_positive_lesions"])


def rule_fit(train: list[CaseCandidates]) -> dict[str, Any]:
    """Logistic weights on the training cases' candidates (those the guards keep), then the minimum
    confidence that maximises detected - FALSE_LESION_COST x false lesions over those cases."""
    rows = [(cc, k) for cc in train for k, c in enumerate(cc.candidates) if not _guarded(c)]
    x = np.array([[cc.candidates[k].features[n] for n in RULE_FEATURES] for cc, k in rows], dtype=np.float64)
    y = np.array([bool(cc.hits[k]) for cc, k in rows], dtype=bool)
    if len(set(y.tolist())) < 2:
        raise ValueError("the training cases need true and false candidates to fit the rule")
    # fitted on standardised features (so that the penalty weighs each feature alike), then written
    # back as weights on the raw features, which is what the runtime computes
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-6] = 1.0
    lr = LogisticRegression(C=REGULARISATION_C, max_iter=5000).fit((x - mu) / sd, y)
    w = lr.coef_[0] / sd
    b = float(lr.intercept_[0]) - float((lr.coef_[0] * mu / sd).sum())
    rule: dict[str, Any] = {
        "features": list(RULE_FEATURES),
        "weights": {n: round(float(v), 4) for n, v in zip(RULE_FEATURES, w, strict=True)},
        "intercept": round(b, 4),
        "guards": dict(GUARDS),
        "min_confidence": 0.5,
    }
    best: tuple[float, float] | None = None
    for t in THRESHOLDS:
        trial = {**rule, "min_confidence": t}
        u = sum(_utility(cc, rule_apply(cc, trial)) for cc in train)
        if best is None or u >= best[0]:  # ties go to the higher threshold (fewer proposals)
            best = (u, t)
    assert best is not None
    rule["min_confidence"] = best[1]
    rule["trained_on"] = [cc.name for cc in train]
    rule["training_candidates"] = {"true": int(y.sum()), "false": int((~y).sum())}
    return rule


def rule_apply(cc: CaseCandidates, rule: dict[str, Any] | None) -> list[bool]:
    """Which candidates of the case the rule proposes (all of them without a rule)."""
    if rule is None:
        return [True] * len(cc.candidates)
    out = []
    for c in cc.candidates:
        conf = lesion_confidence(c.features, rule=rule)
        out.append(lesion_rule_reason(c.features, conf, rule=rule) is None)
    return out


def leave_one_case_out(cases: list[CaseCandidates]) -> dict[str, Any]:
    """For each case: the rule fitted on the others, applied to it; before = the registered
    post-processing of 1.1.0 (every candidate proposed)."""
    rows = []
    pooled: list[tuple[float, bool]] = []
    for held in cases:
        train = [cc for cc in cases if cc is not held]
        rule = rule_fit(train)
        after = rule_apply(held, rule)
        confidences = [lesion_confidence(c.features, rule=rule) for c in held.candidates]
        pooled.extend(
            (p, bool(h)) for p, h, c in zip(confidences, held.hits, held.candidates, strict=True) if not _guarded(c)
        )
        rows.append(
            {
                "case": held.name,
                "role": held.role,
                "note": held.note,
                "liver_dice": round(held.liver_dice, 4),
                "rule_trained_on": rule["trained_on"],
                "rule": {k: rule[k] for k in ("weights", "intercept", "min_confidence")},
                "before": case_score(held, rule_apply(held, None)),
                "after": case_score(held, after),
                "candidates": [
                    {
                        "volume_ml": round(c.features["volume_ml"], 2),
                        "true": bool(h),
                        "confidence": round(p, 3),
                        "proposed": a,
                        "reason": lesion_rule_reason(c.features, p, rule=rule),
                        "key_slice": c.key_slice,
                    }
                    for c, h, p, a in zip(held.candidates, held.hits, confidences, after, strict=True)
                ],
            }
        )
    return {"rows": rows, "calibration": calibration(pooled)}


def calibration(pairs: list[tuple[float, bool]]) -> dict[str, Any]:
    """Brier score and a reliability table of out-of-fold confidences (candidates the guards keep)."""
    if not pairs:
        return {"candidates": 0}
    p = np.array([a for a, _ in pairs])
    y = np.array([b for _, b in pairs], dtype=float)
    bins = []
    for lo, hi in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0001)):
        sel = (p >= lo) & (p < hi)
        if sel.any():
            bins.append(
                {
                    "confidence": [lo, min(hi, 1.0)],
                    "candidates": int(sel.sum()),
                    "mean_confidence": round(float(p[sel].mean()), 3),
                    "fraction_true": round(float(y[sel].mean()), 3),
                }
            )
    return {
        "candidates": len(pairs),
        "true": int(y.sum()),
        "brier": round(float(((p - y) ** 2).mean()), 4),
        "brier_of_base_rate": round(float(((y.mean() - y) ** 2).mean()), 4),
        "bins": bins,
    }


VERSION = "1.2.0"
BASE_VERSION = "1.1.0"
COMMAND = "python manage.py liver_lesion_rule --data ../shared/data --card"
CAVEATS = (
    "The network was not retrained: every case is scored with the registered weights, which were trained on "
    "3Dircadb1.1, 3Dircadb1.7 and the TotalSegmentator CT (liver labels only). Only the rule is held out in "
    "these rows; for those three cases the network's own outputs are training-set outputs (optimistic), "
    "LiTS 117 is the only case the network never saw. The TotalSegmentator CT is the same image as the demo "
    "CT, so the demo's result is not an independent check. Four cases, two with lesions: anecdotes, not "
    "estimates of performance."
)


def run(*, data_root: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Network outputs (cached), candidates, the leave-one-case-out table and the final rule."""
    post = {
        k: v
        for k, v in model_card_get(key=KEY).data["postprocessing"].items()
        if k != "lesion_rule"
    }
    cases = cases_load(data_root)
    found = []
    for case in cases:
        raw, prob, votes, meta = outputs_cached(case=case, log=log)
        found.append(
            case_candidates(
                case=case, raw=raw, lesion_prob=prob, votes=votes, n_tta=len(meta["tta"]), postprocessing=post
            )
        )
        log(f"{case.name}: {len(found[-1].candidates)} candidates, {sum(bool(h) for h in found[-1].hits)} true")
    table = leave_one_case_out(found)
    final = rule_fit(found)
    in_sample = [
        {"case": cc.name, **case_score(cc, rule_apply(cc, final))} for cc in found
    ]
    result = {
        "weights_sha256": outputs_cached(case=cases[0], log=log)[3]["weights_sha256"],
        "postprocessing_before_rule": post,
        "leave_one_case_out": table["rows"],
        "calibration_out_of_fold": table["calibration"],
        "rule": final,
        "final_rule_on_development_cases": in_sample,
    }
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    (CACHE_DIR / "result.json").write_text(json.dumps(result, indent=2))
    return result


METHOD = (
    "Candidates: the lesion components left by the registered clean-up (largest organ component, lesion "
    "surface >= 0.5 liver, >= 0.1 mL). Plausibility guards, fixed a priori: a candidate that reaches both the "
    "first and the last slice of the series, or that is over half the liver's volume, is not proposed. "
    "Confidence: logistic regression (L2, C = 1) on mean TTA lesion probability, TTA agreement, log10 volume, "
    "|HU contrast to the liver within 5 mm| / 100, solidity of the largest cross-section and liver contact; "
    "minimum confidence: the threshold (0.05 steps) that maximises detected lesions - 2 x false lesions on the "
    "training cases (ties to the higher threshold). Leave one case out: the weights and the threshold are "
    "fitted on the other cases only, then applied to the case left out. A true candidate overlaps a reference "
    "lesion; sensitivity counts reference lesions of at least 0.1 mL (smaller ones cannot be proposed)."
)
_MD_BEGIN = "<!-- lesion-rule:begin -->"
_MD_END = "<!-- lesion-rule:end -->"


DESIGN_NOTE = (
    "The feature set and the guards were designed after the 134.8 mL false lesion of the TotalSegmentator CT "
    "and the candidates of LiTS 117 had been looked at, before the leave-one-case-out table was computed; "
    "nothing was changed after it. 3Dircadb1.7's false lesions that stay lie in the heart, which the network "
    "labels liver above the dome (a liver-segmentation error that a lesion rule cannot undo)."
)


def _compact(score: dict[str, Any]) -> str:
    det = f"{score['lesions_detected']}/{score['lesions_true']}" if score["lesions_true"] else "n/a"
    large = f"{score['lesions_detected_1ml']}/{score['lesions_true_1ml']}" if score["lesions_true_1ml"] else "n/a"
    dice_txt = "n/a" if score["lesion_dice"] is None else f"{score['lesion_dice']:.3f}"
    return f"{det} | {large} | {score['false_positive_lesions']} | {dice_txt}"


def limitation_text(rows: list[dict[str, Any]]) -> str:
    """One sentence of the card's limits, from the leave-one-case-out rows."""

    def total(when: str, key: str) -> int:
        return sum(int(r[when][key]) for r in rows)

    return (
        "Lesion proposals pass a lesion-level rule calibrated on four development cases (two with lesions). "
        f"Leave one case out it cut false lesions from {total('before', 'false_positive_lesions')} to "
        f"{total('after', 'false_positive_lesions')} but detected reference lesions of 1 mL or more fell from "
        f"{total('before', 'lesions_detected_1ml')} to {total('after', 'lesions_detected_1ml')} of "
        f"{total('before', 'lesions_true_1ml')}; its out-of-fold confidences are poorly calibrated "
        "(metrics.lesion_rule). It was not validated on independent data."
    )


def markdown_section(metrics: dict[str, Any], rule: dict[str, Any]) -> str:
    rows = [
        f"| {r['case']} | {r['role']} | {r['liver_dice']:.3f} | {_compact(r['before'])} | {_compact(r['after'])} | "
        f"{r['rule']['min_confidence']} |"
        for r in metrics["leave_one_case_out"]
    ]
    false_ml = [
        f"- {r['case']}: false lesions before (mL) {r['before']['false_lesion_ml'] or 'none'}; after "
        f"{r['after']['false_lesion_ml'] or 'none'}" + (f" ({r['note']})" if r.get("note") else "")
        for r in metrics["leave_one_case_out"]
    ]
    cal = metrics["calibration_out_of_fold"]
    bins = "; ".join(
        f"{b['confidence'][0]:.1f}-{b['confidence'][1]:.1f}: {b['candidates']} candidates, mean confidence "
        f"{b['mean_confidence']}, {b['fraction_true']} true"
        for b in cal.get("bins", [])
    )
    final = metrics["final_rule_on_development_cases"]
    final_rows = [f"| {r['case']} | {_compact(r)} |" for r in final]
    weights = ", ".join(f"{k} {v:+.3f}" for k, v in rule["weights"].items())
    return f"""{_MD_BEGIN}
## Lesion-level decision rule (new in 1.2.0; same weights as 1.1.0)
Every proposed lesion carries a calibrated lesion-level `confidence`, its `mean_probability` and
`tta_agreement`, and a `key_slice` (the slice of its largest cross-section); candidates below the rule
are not proposed (they are listed under `lesion_candidates_not_proposed` with the reason, and their voxels
are liver again).

{metrics["method"]}

Registered rule (fitted on all development cases: {", ".join(rule["trained_on"])}): intercept
{rule["intercept"]:+.3f}, weights {weights}; minimum confidence {rule["min_confidence"]}; guards {rule["guards"]}.

**Leave one case out** (before = 1.1.0's post-processing, every candidate proposed; after = the rule
fitted without the case). Columns: lesions detected / reference lesions (all, and those of 1 mL or more),
false lesions, lesion Dice. Liver Dice: the registered weights on each case (unchanged by the rule).

| case | role | liver Dice | before: detected | >= 1 mL | false | lesion Dice | after: detected | >= 1 mL | false | lesion Dice | fold's min. confidence |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{chr(10).join(false_ml)}

Calibration of the out-of-fold confidences ({cal.get("candidates", 0)} candidates the guards keep,
{cal.get("true", 0)} true): Brier {cal.get("brier")} (base rate {cal.get("brier_of_base_rate")}); {bins}.

The registered rule on the development cases it was fitted on (optimistic):

| case | detected | >= 1 mL | false | lesion Dice |
|---|---|---|---|---|
{chr(10).join(final_rows)}

Design: {metrics["design"]}

Caveats: {metrics["caveats"]}

Reproduce: `{metrics["command"]}` (the network runs once per case, 14-1400 s each on this shared 2-core
machine; its outputs are cached under var/liver_lesion_rule, after which the command takes about 2 minutes).
{_MD_END}
"""


def card_write(*, result: dict[str, Any], root: Path | None = None) -> Path:
    """Write the rule and its table into version :data:`VERSION` of the card, created from the current
    :data:`BASE_VERSION` card (same weights) when it does not exist yet; only the rule's fields change."""
    base = (root or ARTEFACT_ROOT) / KEY / BASE_VERSION
    target = (root or ARTEFACT_ROOT) / KEY / VERSION
    target.mkdir(parents=True, exist_ok=True)
    card_path = target / CARD_FILE
    data = json.loads((card_path if card_path.exists() else base / CARD_FILE).read_text(encoding="utf-8"))
    weights = target / str(data["weights"]["file"])
    if not weights.exists():
        shutil.copyfile(base / str(data["weights"]["file"]), weights)
    if sha256_file(weights) != data["weights"]["sha256"] or data["weights"]["sha256"] != result["weights_sha256"]:
        raise ValueError("the rule was fitted on other weights than the card's")
    rule = {
        **result["rule"],
        "false_lesion_cost": FALSE_LESION_COST,
        "regularisation_c": REGULARISATION_C,
    }
    data["version"] = VERSION
    data["postprocessing"]["lesion_rule"] = rule
    metrics = {
        "method": METHOD,
        "command": COMMAND,
        "caveats": CAVEATS,
        "design": DESIGN_NOTE,
        "leave_one_case_out": result["leave_one_case_out"],
        "calibration_out_of_fold": result["calibration_out_of_fold"],
        "final_rule_on_development_cases": result["final_rule_on_development_cases"],
    }
    data["metrics"]["lesion_rule"] = metrics
    limits = [x for x in data["limitations"] if not x.startswith("Lesion proposals pass a lesion-level rule")]
    data["limitations"] = [*limits, limitation_text(result["leave_one_case_out"])]
    data["created"] = time.strftime("%Y-%m-%d")
    card_path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path = target / MODEL_CARD_MD
    md = (md_path if md_path.exists() else base / MODEL_CARD_MD).read_text(encoding="utf-8")
    md = md.replace(f"(`{KEY}` {BASE_VERSION})", f"(`{KEY}` {VERSION})", 1)
    md = md.replace(
        "## Held-out evaluation (full runtime pipeline",
        f"## Held-out evaluation of the network ({BASE_VERSION}'s post-processing, without the lesion rule; full runtime pipeline",
        1,
    )
    if "## Limits\n" in md:  # the human card lists the same limits as card.json
        head, rest = md.split("## Limits\n", 1)
        tail = rest[rest.index("\n## ") :] if "\n## " in rest else ""
        md = head + "## Limits\n" + "\n".join("- " + x for x in data["limitations"]) + "\n" + tail
    section = markdown_section(metrics, rule)
    if _MD_BEGIN in md:
        md = md[: md.index(_MD_BEGIN)] + section + md[md.index(_MD_END) + len(_MD_END) + 1 :]
    else:
        anchor = "## Held-out evaluation"
        md = md.replace(anchor, section + "\n" + anchor, 1) if anchor in md else md + "\n" + section
    md_path.write_text(md, encoding="utf-8")
    model_card_parse(path=card_path)
    return card_path


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What the command prints: the table's headline numbers."""
    return {
        "rule": {k: result["rule"][k] for k in ("weights", "intercept", "min_confidence", "guards")},
        "leave_one_case_out": [
            {
                "case": r["case"],
                "before": {k: r["before"][k] for k in ("lesions_detected", "lesions_true", "false_positive_lesions", "lesion_dice")},
                "after": {k: r["after"][k] for k in ("lesions_detected", "lesions_true", "false_positive_lesions", "lesion_dice")},
            }
            for r in result["leave_one_case_out"]
        ],
        "calibration_out_of_fold": result["calibration_out_of_fold"],
    }

# ruff: noqa: RUF001, RUF002 (typographic minus, en dash and multiplication signs are meant for the reader)
"""A report version as the document a clinician reads: display rows built from its content.

One source of wording for every surface: the printable HTML, the PDF and the report page (the
API serves ``report_document(...).as_dict()``). The stored content keeps codes, UCUM units and
score ids; nothing here shows them. Measurements read in HU, mL and mm; scores by their names,
with their interpretation; series by their description, modality and date.

The patient's identity (name, MRN, date of birth, sex) is read from the patient record when the
document is rendered, not from the report content: the report is tied to the patient by a key,
and a corrected name or a merged MRN must reach every copy printed afterwards. The clinical
content (findings, scores, recommendations) is the signed, hashed part and never changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from cdss.accounts.models import User
from imaging.models import ImagingSeries
from inference.registry import ModelNotFound, model_card_get, model_display_name
from inference.reports.content import content_sha256
from inference.reports.heatmaps import heatmap_colour_data_url
from patients.models import Patient
from patients.units import analyte_by_code

# Shown when a report predates the intended-use statement in its content.
INTENDED_USE_FALLBACK = "This report supports, not replaces, a clinician's judgement."

STATE_LABELS = {"draft": "Draft", "final": "Signed", "amended": "Amended", "superseded": "Superseded"}
SEX_LABELS = {"male": "Male", "female": "Female", "other": "Other", "unknown": "Unknown", "M": "Male", "F": "Female"}

SCORE_NAMES: dict[str, str] = {
    "meld": "MELD", "meld_na": "MELD-Na", "meld_3": "MELD 3.0", "child_pugh": "Child-Pugh", "albi": "ALBI",
    "fib4": "FIB-4", "apri": "APRI", "amap": "aMAP", "galad": "GALAD", "bclc": "BCLC",
    "lung_rads": "Lung-RADS", "brock": "Brock (PanCan)", "fleischner": "Fleischner",
}
SCORE_ORDER = list(SCORE_NAMES)

# Learned cohort models: the name a clinician knows them by.
LEARNED_NAMES: dict[str, str] = {
    "hcv_stage": "HCV fibrosis stage (cohort model, HCV data set)",
    "hcv_binary": "HCV disease (cohort model, HCV data set)",
    "ilpd": "Liver patient classifier (cohort model, ILPD)",
    "pbc": "PBC survival (cohort model, Mayo PBC)",
}
IMAGING_NAMES: dict[str, str] = {
    "liver_ct_seg": "Liver and liver-lesion CT segmentation",
    "brain_mri_seg": "Brain tumour MRI segmentation (FLAIR + T1c)",
    "cxr_pneumonia": "Paediatric chest X-ray pneumonia classifier",
    "noop": "Test model (no imaging work)",
}
LEARNED_CLASS_NAMES: dict[str, str] = {
    "donor": "no liver disease", "hepatitis": "hepatitis", "fibrosis": "fibrosis", "cirrhosis": "cirrhosis",
    "hcv_disease": "HCV-related liver disease", "liver_patient": "liver disease", "non_liver_patient": "no liver disease",
    "death": "death",
}

# Inputs a score may lack or use, in words (labs with a LOINC code are named by the catalogue).
INPUT_NAMES: dict[str, str] = {
    "age_years": "age", "sex": "sex", "bilirubin_total": "total bilirubin", "albumin": "albumin", "inr": "INR",
    "creatinine": "creatinine", "sodium": "sodium", "platelets": "platelets", "ast": "AST", "alt": "ALT",
    "afp": "AFP", "afp_l3_percent": "AFP-L3 %", "dcp_ng_ml": "DCP (PIVKA-II)",
    "ast_upper_limit_normal_u_l": "AST upper limit of normal", "ascites": "ascites", "encephalopathy": "encephalopathy",
    "ecog_ps": "ECOG performance status", "macrovascular_invasion": "macrovascular invasion",
    "extrahepatic_spread": "extrahepatic spread", "liver_function": "liver function (Child-Pugh class)",
    "liver_tumours": "tumour number and size", "lung_screening_exam": "screening round (baseline or follow-up)",
    "lung_nodules": "lung nodule measurements", "family_history_lung_cancer": "family history of lung cancer",
    "emphysema": "emphysema", "nodule_context": "nodule context (screening or incidental)",
    "nodule_patient_risk": "patient risk (low or high)", "dialysis_twice_past_week": "dialysis in the past week",
    "child_pugh_class": "Child-Pugh class", "known_cancer_or_immunosuppressed": "known cancer or immunosuppression",
    "clinically_significant_portal_hypertension": "clinically significant portal hypertension",
    "bilirubin_normal": "bilirubin within normal limits", "cholestatic_disease": "cholestatic disease",
}
# Features of the learned models (data-set column names) in words.
FEATURE_NAMES: dict[str, str] = {
    "age": "age", "age_years": "age", "sex_male": "male sex", "gender_male": "male sex", "alb": "albumin",
    "albumin": "albumin", "alp": "alkaline phosphatase", "alkphos": "alkaline phosphatase", "alt": "ALT",
    "sgpt": "ALT", "ast": "AST", "sgot": "AST", "bil": "bilirubin", "bilirubin": "bilirubin", "tb": "total bilirubin",
    "db": "direct bilirubin", "che": "cholinesterase", "chol": "cholesterol", "crea": "creatinine", "ggt": "GGT",
    "prot": "total protein", "tp": "total protein", "a/g": "albumin/globulin ratio", "prothrombin": "prothrombin time",
    "edema_score": "oedema", "alp_u_l": "alkaline phosphatase",
}
UNIT_DISPLAY: dict[str, str] = {
    "[hnsf'U]": "HU", "umol/L": "µmol/L", "ukat/L": "µkat/L", "10*9/L": "×10⁹/L", "10*3/uL": "×10³/µL",
    "/mm3": "/mm³", "{INR}": "", "a": "years", "mm3": "mm³", "1": "", "%": "%",
}
TREATMENT_NAMES: dict[str, str] = {
    "ablation": "ablation", "resection": "resection", "transplant": "liver transplantation",
    "liver_transplant": "liver transplantation", "tace": "TACE", "systemic_therapy": "systemic therapy",
    "best_supportive_care": "best supportive care", "tare": "TARE",
}
# Review states of AI findings, as the reviewer reads them.
REVIEW_LABELS = {"proposed": "awaiting review", "accepted": "accepted", "edited": "accepted with changes",
                 "rejected": "rejected", "clinician": "entered by a clinician"}

_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


# --- small formatters ------------------------------------------------------------------------


def unit_text(unit: str | None) -> str:
    if not unit:
        return ""
    return UNIT_DISPLAY.get(unit, re.sub(r"^u(?=[a-zA-Z])", "µ", unit))


def number_text(value: float, *, digits: int | None = None) -> str:
    """Three significant digits unless ``digits`` is given (1510, 135, 12.5, 1.81, 0.287), trailing
    zeros dropped; a minus sign, not a hyphen."""
    if not math.isfinite(value):
        return "—"
    if digits is None:
        magnitude = abs(value)
        digits = 0 if magnitude == 0 else max(0, 2 - math.floor(math.log10(magnitude)))
        text = f"{value:.{digits}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = f"{value:.{digits}f}"
    return text.replace("-", "−") if value < 0 else text


def quantity_text(raw: Any, *, digits: int | None = None) -> str:
    """``{"value": 12.5, "unit": "mL"}`` -> "12.5 mL"; HU written after the number without a unit code."""
    if isinstance(raw, Mapping):
        value = raw.get("value")
        if value is None:
            return "—"
        unit = unit_text(raw.get("unit"))
        text = number_text(float(value), digits=digits) if isinstance(value, (int, float)) else str(value)
        return f"{text} {unit}".strip()
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, (int, float)):
        return number_text(float(raw), digits=digits)
    return "—" if raw is None else str(raw)


def words(key: str) -> str:
    """An internal key in words: the tables first, else the underscores as spaces."""
    last = key.split(".")[-1]
    for table in (INPUT_NAMES, SCORE_NAMES, FEATURE_NAMES):
        if last in table:
            return table[last]
        if last.lower() in table:
            return table[last.lower()]
    return last.replace("_", " ")


def score_name(score_id: str) -> str:
    return SCORE_NAMES.get(score_id, score_id.replace("_", " ").upper())


def _category_after(score_id: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return f"{SCORE_NAMES[score_id]} {match.group(1)} ({category_text(score_id, match.group(2))})"

    return replace


# Score ids as whole words, longest first ("meld_na" before "meld"); with a bare category after the value.
_SCORE_PATTERNS = [
    (score_id, re.compile(rf"\b{re.escape(score_id)} (-?[0-9.]+) \(([^)]+)\)"), re.compile(rf"\b{re.escape(score_id)}\b"))
    for score_id in sorted(SCORE_NAMES, key=len, reverse=True)
]


def humanise_text(text: str) -> str:
    """Free text written by the rules (recommendations, gaps): score ids and input keys in words."""
    out = text
    for score_id, with_category, bare in _SCORE_PATTERNS:
        # "albi -1.82 (2)" -> "ALBI -1.82 (grade 2)": the rules write a bare category after the value.
        out = with_category.sub(_category_after(score_id), out)
        out = bare.sub(SCORE_NAMES[score_id], out)
    return _SNAKE.sub(lambda m: words(m.group(0)), out)


CATEGORY_WORDS = {"albi": "grade", "child_pugh": "class", "bclc": "stage", "lung_rads": "category"}


def category_text(score_id: str, category: str) -> str:
    """"2" -> "grade 2" for ALBI; "high" -> "high" (a word passes with underscores as spaces)."""
    word = CATEGORY_WORDS.get(score_id)
    text = category.replace("_", " ")
    return f"{word} {text}" if word and re.fullmatch(r"[0-9A-D][AB0-9]?", category) else text


def percent_text(probability: Any) -> str:
    if not isinstance(probability, (int, float)) or not math.isfinite(probability):
        return "—"
    return f"{probability * 100:.1f} %"


def date_text(value: Any) -> str:
    if isinstance(value, datetime):
        return f"{value:%d %b %Y %H:%M} UTC"
    if isinstance(value, date):
        return f"{value:%d %b %Y}"
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return date_text(parsed if ("T" in value or " " in value) else parsed.date())
    return ""


def age_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# --- the document ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class Header:
    title: str
    state: str  # draft | final | amended | superseded (for styling only)
    state_label: str
    version: int
    patient_name: str
    mrn: str
    birth_date: str
    age: str
    sex: str
    requester: str
    requested_at: str
    created_at: str
    signer: str
    signed_at: str
    sign_comment: str
    released_at: str
    amendment: str


@dataclass(frozen=True)
class Lesion:
    number: int
    diameter: str
    volume: str
    density: str
    slices: str
    confidence: str
    review: str
    key_slice: int | None  # 0-based index along the series, 0 = most inferior
    key_instance_uid: str | None  # the SOP instance shown for this lesion
    viewer_href: str | None


@dataclass(frozen=True)
class Heatmap:
    """The model's heatmap of one classified image, shown beside its probability."""

    number: int
    result: str  # "Probability of pneumonia 91.3 % — above the model's threshold (50 %)"
    image: str  # PNG data URL: the heatmap in colour (the PDF lays it over the radiograph)
    caveat: str  # from the model card: what the map is and is not
    sop_instance_uid: str  # the classified image (for the key image and the viewer link), never shown
    viewer_href: str | None


@dataclass(frozen=True)
class ImagingBlock:
    title: str  # series description · modality · date
    study: str
    model: str
    summary: list[Row]
    lesions: list[Lesion]
    predictions: list[Row]
    notes: list[str]
    series_uid: str  # for the key images and links, never shown as text
    study_uid: str
    seg_series_uid: str
    seg_instance_uid: str
    instance_uids: list[str]
    heatmaps: list[Heatmap] = field(default_factory=list)


@dataclass(frozen=True)
class ScoreLine:
    score: str  # the score id, for data attributes and tests only
    name: str
    value: str
    interpretation: str
    inputs: str
    reference: str


@dataclass(frozen=True)
class Recommendation:
    title: str
    statement: str
    evidence: list[str]
    reference: str


@dataclass(frozen=True)
class LearnedModel:
    name: str
    version: str
    result: str
    drivers: list[str]
    notes: list[str]
    applicable: bool


@dataclass(frozen=True)
class ModelLine:
    name: str
    kind: str  # "Imaging" | "Risk (cohort)"
    version: str
    weights_sha256: str
    inputs: str


@dataclass(frozen=True)
class SecondOpinionLine:
    """A consultant's signed opinion as the report carries it (content ``second_opinions``)."""

    author: str
    signed_at: str
    urgency: str
    answer: str
    recommendations: list[str]


@dataclass
class ReportDocument:
    header: Header
    warnings: list[str]
    imaging: list[ImagingBlock]
    staging: list[Row]
    scores: list[ScoreLine]
    not_computed: list[Row]
    labs: list[Row]
    learned: list[LearnedModel]
    modifiers: list[Row]
    recommendations: list[Recommendation]
    gaps: list[str]
    models: list[ModelLine]
    provenance: list[Row]
    intended_use: str
    signature: str
    printed_note: str = ""
    second_opinions: list[SecondOpinionLine] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra", None)
        return data

    def visible_strings(self) -> Iterable[str]:
        """Every text a reader sees (tests check that none of it is an internal key)."""
        hidden = {"state", "score", "series_uid", "study_uid", "seg_series_uid", "seg_instance_uid", "instance_uids",
                  "viewer_href", "key_slice", "key_instance_uid", "weights_sha256", "sop_instance_uid", "image"}

        def walk(node: Any) -> Iterable[str]:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key not in hidden:
                        yield from walk(value)
            elif isinstance(node, list):
                for item in node:
                    yield from walk(item)
            elif isinstance(node, str):
                yield node

        return walk(self.as_dict())


@dataclass(frozen=True)
class SeriesInfo:
    study_uid: str
    description: str
    modality: str
    date: date | None
    study_description: str
    patient_id: int | None


@dataclass(frozen=True)
class DocumentContext:
    """What the document needs beyond the content, looked up by the caller (the database)."""

    patient_name: str
    mrn: str
    birth_date: date | None
    sex: str
    state: str
    version: int
    created_at: datetime | None
    signer: str
    signed_at: datetime | None
    sign_comment: str
    requester: str
    released_at: datetime | None = None
    content_sha256: str = ""
    integrity_ok: bool = True
    patient_id: int | None = None
    series: Mapping[str, SeriesInfo] = field(default_factory=dict)
    analyte_name: Callable[[str], str | None] = lambda code: None
    imaging_model_name: Callable[[str], str | None] = lambda key: None
    heatmap_caveat: Callable[[str], str | None] = lambda key: None
    dicom_sr: str = ""  # where the signed measurements went as a DICOM SR (outside the hashed content)


# --- sections --------------------------------------------------------------------------------


def _header(content: Mapping[str, Any], ctx: DocumentContext) -> Header:
    request = content.get("request") or {}
    amendment = content.get("amendment") or {}
    on = (ctx.created_at or datetime.now()).date()
    return Header(
        title="Clinical decision-support report",
        state=ctx.state,
        state_label=STATE_LABELS.get(ctx.state, ctx.state.capitalize()),
        version=ctx.version,
        patient_name=ctx.patient_name,
        mrn=ctx.mrn,
        birth_date=date_text(ctx.birth_date) if ctx.birth_date else "—",
        age=f"{age_years(ctx.birth_date, on)} years" if ctx.birth_date else "—",
        sex=SEX_LABELS.get(ctx.sex, ctx.sex.capitalize() if ctx.sex else "—"),
        requester=ctx.requester or "—",
        requested_at=date_text(request.get("requested_at")),
        created_at=date_text(ctx.created_at),
        signer=ctx.signer,
        signed_at=date_text(ctx.signed_at) if ctx.signed_at else "",
        sign_comment=ctx.sign_comment,
        released_at=date_text(ctx.released_at) if ctx.released_at else "",
        amendment=(f"Amends version {amendment.get('of_version')}: {amendment.get('text', '')}" if amendment else ""),
    )


LESION_LABEL_NAMES = {
    "liver_lesion": "liver lesion", "suspected_hcc": "suspected HCC", "suspected_metastasis": "suspected metastasis",
    "cyst": "cyst", "haemangioma": "haemangioma", "other_benign": "other benign lesion", "liver": "liver",
}


def _review_label(review: Mapping[str, Any] | None) -> str:
    """A finding's review as the reader needs it: the decision, the label, who, and why."""
    if not review:
        return ""
    status = str(review.get("status") or "")
    if review.get("source") == "clinician":
        text = REVIEW_LABELS["clinician"]
    else:
        text = REVIEW_LABELS.get(status, status.replace("_", " "))
    label = str(review.get("label") or "")
    if label and label not in ("liver_lesion", "liver", "brain_tumour") and status != "rejected":
        text += f" as {LESION_LABEL_NAMES.get(label, label.replace('_', ' '))}"
    if review.get("decided_by") and status != "proposed":
        text += f" by {review['decided_by']}"
    if review.get("reason"):
        text += f": {review['reason']}"
    return text


def _reviews(content: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The findings' review states when this version was made, by (series, finding reference)."""
    block = content.get("findings_review")
    findings = block.get("findings", []) if isinstance(block, Mapping) else []
    return {(str(f.get("series_uid") or ""), str(f.get("source_ref") or "")): f
            for f in findings if isinstance(f, Mapping) and f.get("source") != "clinician"}


def _corrected(review: Mapping[str, Any] | None, key: str, unit: str, shown: str) -> str:
    """A measurement a clinician corrected: the corrected value, with the model's beside it."""
    if not review or review.get("status") != "edited":
        return shown
    value = (review.get("values") or {}).get(key)
    proposed = (review.get("proposed") or {}).get(key)
    if not isinstance(value, (int, float)) or value == proposed:
        return shown
    return f"{number_text(float(value))} {unit} (corrected; model {shown})"


def _series_title(series_uid: str, info: SeriesInfo | None, index: int) -> tuple[str, str]:
    if info is None:
        return f"Imaging series {index}", ""
    parts = [info.description or "Series without description", info.modality, date_text(info.date) if info.date else ""]
    return " · ".join(p for p in parts if p), info.study_description


def _viewer_href(info: SeriesInfo | None, series_uid: str, instance_uid: str | None, patient_id: int | None) -> str | None:
    if info is None or not info.study_uid:
        return None
    query = [f"series={series_uid}"]
    if patient_id is not None:
        query.insert(0, f"patient={patient_id}")
    if instance_uid:
        query.append(f"instance={instance_uid}")
    return f"/studies/{info.study_uid}?{'&'.join(query)}"


def key_slice_index(lesion: Mapping[str, Any]) -> int | None:
    """The slice that shows the lesion: the model's key slice (its largest cross-section), else its
    centroid's, else the middle of its slice range."""
    centroid = lesion.get("centroid_zyx")
    slices = lesion.get("slice_range")
    if isinstance(lesion.get("key_slice"), int):
        index = int(lesion["key_slice"])
    elif isinstance(centroid, list) and centroid and isinstance(centroid[0], (int, float)):
        index = round(float(centroid[0]))
    elif isinstance(slices, list) and len(slices) == 2 and all(isinstance(s, int) for s in slices):
        index = (slices[0] + slices[1]) // 2
    else:
        return None
    if isinstance(slices, list) and len(slices) == 2 and all(isinstance(s, int) for s in slices):
        index = min(max(index, slices[0]), slices[1])
    return index


def _imaging(content: Mapping[str, Any], ctx: DocumentContext) -> tuple[list[ImagingBlock], list[str]]:
    instances_by_series = {
        str(item.get("series_uid")): [str(u) for u in item.get("sop_instance_uids", [])]
        for item in (content.get("inputs") or {}).get("imaging", []) if isinstance(item, Mapping)
    }
    blocks: list[ImagingBlock] = []
    warnings: list[str] = []
    reviews = _reviews(content)
    block_state = content.get("findings_review")
    entered = [f for f in (block_state.get("findings", []) if isinstance(block_state, Mapping) else [])
               if isinstance(f, Mapping) and f.get("source") == "clinician" and f.get("kind") == "lesion"]
    for index, raw in enumerate(content.get("imaging_findings", []), start=1):
        if not isinstance(raw, Mapping) or raw.get("kind") == "noop":
            continue
        series_uid = str(raw.get("series_uid") or "")
        info = ctx.series.get(series_uid)
        title, study = _series_title(series_uid, info, index)
        model = raw.get("model") or {}
        model_name = _imaging_model_name(str(model.get("key", "")), ctx)
        body = raw.get("findings") or {}
        instances = instances_by_series.get(series_uid, [])
        summary: list[Row] = []
        notes: list[str] = []
        abstention = raw.get("abstention")
        if isinstance(abstention, Mapping) and abstention.get("reason"):
            # Outside the model's intended population: the reason, never an empty "no findings".
            summary.append(Row("Model not applied", re.sub(r"^\s*not applied:\s*", "", str(abstention["reason"]), flags=re.I)))
        liver = body.get("liver") or {}
        if liver:
            if liver.get("present") is False:
                summary.append(Row("Liver", "not found in this series"))
            else:
                liver_review = reviews.get((series_uid, "liver"))
                summary.append(Row("Liver volume", _corrected(liver_review, "volume_ml", "mL", quantity_text(liver.get("volume")))))
                if liver_review:
                    summary.append(Row("Liver outline", _review_label(liver_review)))
                summary.append(Row("Liver mean attenuation", quantity_text(liver.get("mean_density"))))
        regions = body.get("regions") or {}
        if isinstance(regions, Mapping) and regions:  # brain_mri_seg: whole tumour, core, enhancing
            tumour_review = reviews.get((series_uid, "brain_tumour"))
            for region_key, region_label in (("whole_tumour", "Whole tumour volume"), ("tumour_core", "Tumour core volume"),
                                             ("enhancing_tumour", "Enhancing tumour volume")):
                text = quantity_text((regions.get(region_key) or {}).get("volume"))
                summary.append(Row(region_label, _corrected(tumour_review, "volume_ml", "mL", text)
                                   if region_key == "whole_tumour" else text))
            if tumour_review:
                summary.append(Row("Tumour outline", _review_label(tumour_review)))
            hemisphere = (body.get("location") or {}).get("hemisphere")
            if hemisphere:
                summary.append(Row("Tumour side", "midline" if hemisphere == "midline" else f"{hemisphere} hemisphere"))
        lesions: list[Lesion] = []
        raw_lesions = [lesion for lesion in body.get("lesions", []) if isinstance(lesion, Mapping)]
        if "lesion_count" in body or raw_lesions:
            count = body.get("lesion_count", len(raw_lesions))
            summary.append(Row("Focal liver lesions", "none detected" if not count else str(count)))
        total = len(instances)
        for position, lesion in enumerate(raw_lesions, start=1):
            slices = lesion.get("slice_range")
            slice_text = "—"
            if isinstance(slices, list) and len(slices) == 2:
                first, last = int(slices[0]) + 1, int(slices[1]) + 1
                slice_text = f"images {first}–{last}" if first != last else f"image {first}"
                if total:
                    slice_text += f" of {total}"
            key = key_slice_index(lesion)
            key_uid = instances[key] if key is not None and 0 <= key < len(instances) else None
            confidence = lesion.get("confidence")
            review = reviews.get((series_uid, f"lesion:{lesion.get('id', position)}"))
            diameter = quantity_text(lesion.get("longest_axial_diameter"))
            volume = quantity_text(lesion.get("volume"), digits=2 if _small(lesion.get("volume")) else None)
            lesions.append(Lesion(
                number=int(lesion.get("id", position)) if isinstance(lesion.get("id"), int) else position,
                diameter=_corrected(review, "longest_axial_diameter_mm", "mm", diameter),
                volume=_corrected(review, "volume_ml", "mL", volume),
                density=quantity_text(lesion.get("mean_density")),
                slices=slice_text,
                confidence=percent_text(confidence) if isinstance(confidence, (int, float)) else "—",
                review=_review_label(review),
                key_slice=key,
                key_instance_uid=key_uid,
                viewer_href=_viewer_href(info, series_uid, key_uid, ctx.patient_id),
            ))
        for extra, finding in enumerate((f for f in entered if str(f.get("series_uid") or "") == series_uid),
                                        start=len(lesions) + 1):
            values = finding.get("values") or {}
            diameter_mm, volume_ml = values.get("longest_axial_diameter_mm"), values.get("volume_ml")
            lesions.append(Lesion(
                number=extra, diameter=f"{number_text(float(diameter_mm))} mm" if isinstance(diameter_mm, (int, float)) else "—",
                volume=f"{number_text(float(volume_ml))} mL" if isinstance(volume_ml, (int, float)) else "—",
                density="—", slices="—", confidence="—", review=_review_label(finding),
                key_slice=None, key_instance_uid=None, viewer_href=_viewer_href(info, series_uid, None, ctx.patient_id),
            ))
        if raw_lesions:
            notes.append("Diameter: longest axial diameter. Confidence: the model's confidence that the region is "
                         "a lesion (its card says how it is computed); it is not a probability of malignancy.")
        predictions: list[Row] = []
        heatmaps: list[Heatmap] = []
        for prediction in body.get("predictions", []):
            if not isinstance(prediction, Mapping):
                continue
            label = str(prediction.get("label") or prediction.get("class") or "finding").replace("_", " ").lower()
            probability = prediction.get("probability", prediction.get("score"))
            threshold = prediction.get("threshold")
            verdict = ""
            if isinstance(prediction.get("positive"), bool):
                verdict = "above" if prediction["positive"] else "below"
                verdict = f" — {verdict} the model's threshold" + (f" ({percent_text(threshold)})" if isinstance(threshold, (int, float)) else "")
            decided = _review_label(reviews.get((series_uid, f"prediction:{prediction.get('sop_instance_uid')}")))
            predictions.append(Row(f"Probability of {label}", f"{percent_text(probability)}{verdict}" + (f" · {decided}" if decided else "")))
            coloured = _heatmap_image(prediction.get("heatmap_ref"))
            if coloured:
                instance_uid = str(prediction.get("sop_instance_uid") or "")
                heatmaps.append(Heatmap(
                    number=len(heatmaps) + 1, result=f"Probability of {label} {percent_text(probability)}{verdict}",
                    image=coloured, caveat=ctx.heatmap_caveat(str(model.get("key", ""))) or HEATMAP_CAVEAT,
                    sop_instance_uid=instance_uid, viewer_href=_viewer_href(info, series_uid, instance_uid or None, ctx.patient_id),
                ))
        seg = raw.get("seg") or {}
        blocks.append(ImagingBlock(
            title=title, study=study, model=model_name + (f" v{model.get('version')}" if model.get("version") else ""),
            summary=summary, lesions=lesions, predictions=predictions, notes=notes, series_uid=series_uid,
            study_uid=info.study_uid if info else str(raw.get("study_uid") or ""),
            seg_series_uid=str(seg.get("series_uid") or ""), seg_instance_uid=str(seg.get("sop_instance_uid") or ""),
            instance_uids=instances, heatmaps=heatmaps,
        ))
    return blocks, warnings


HEATMAP_CAVEAT = "Where the model looked (Grad-CAM); not an outline of the finding."


def _heatmap_image(ref: Any) -> str:
    """The stored heatmap (a grey PNG data URL) in colour, or "" when there is none."""
    if not isinstance(ref, str) or not ref.startswith("data:image/png;base64,"):
        return ""
    return heatmap_colour_data_url(ref)


def _small(raw: Any) -> bool:
    return isinstance(raw, Mapping) and isinstance(raw.get("value"), (int, float)) and abs(raw["value"]) < 1


def _imaging_model_name(key: str, ctx: DocumentContext) -> str:
    return ctx.imaging_model_name(key) or IMAGING_NAMES.get(key) or (key.replace("_", " ") if key else "Imaging model")


def _staging(content: Mapping[str, Any]) -> list[Row]:
    staging = content.get("staging") or {}
    rows: list[Row] = []
    if not staging:
        return rows
    if "bclc_stage" in staging:
        rows.append(Row("BCLC stage (2022)", str(staging["bclc_stage"])))
    if "tumour_count" in staging:
        rows.append(Row("Tumour count", str(staging["tumour_count"])))
    if staging.get("tumour_source"):
        rows.append(Row("Tumour count and size from", str(staging["tumour_source"])))
    treatments = [TREATMENT_NAMES.get(str(t), str(t).replace("_", " ")) for t in staging.get("treatments", [])]
    if treatments:
        rows.append(Row("First-line options (BCLC 2022)", ", ".join(treatments)))
    return rows


def _interpretation(score_id: str, result: Mapping[str, Any]) -> str:
    category = result.get("category")
    details = result.get("details") or {}
    value = result.get("value")
    if score_id in ("meld", "meld_na", "meld_3"):
        return "scale 6–40; higher means more severe liver disease"
    if score_id == "child_pugh" and category:
        bands = {"A": "5–6 points, well-compensated", "B": "7–9 points, significant functional compromise",
                 "C": "10–15 points, decompensated"}
        return f"class {category} ({bands.get(str(category), 'points')})"
    if score_id == "albi" and category:
        return f"grade {category} (grade 1 ≤ −2.60 < grade 2 ≤ −1.39 < grade 3)"
    if score_id == "fib4" and category:
        low, high = details.get("low_cutoff", 1.3), details.get("high_cutoff", 2.67)
        text = {
            "low": f"below the low cut-off {number_text(float(low))}: advanced fibrosis unlikely",
            "high": f"above the high cut-off {number_text(float(high))}: advanced fibrosis likely",
            "indeterminate": f"between the cut-offs {number_text(float(low))} and {number_text(float(high))}: indeterminate; consider elastography",
        }.get(str(category), str(category).replace("_", " "))
        return text + (f"; {details['note']}" if details.get("note") else "")
    if score_id == "apri":
        parts = []
        if details.get("significant_fibrosis"):
            parts.append(f"significant fibrosis {details['significant_fibrosis']}")
        if details.get("cirrhosis"):
            parts.append(f"cirrhosis {details['cirrhosis']}")
        uln = details.get("ast_upper_limit_normal_u_l")
        if uln:
            source = "laboratory's" if details.get("ast_upper_limit_normal_source") != "default" else "default"
            parts.append(f"AST upper limit of normal {number_text(float(uln))} U/L ({source})")
        return "; ".join(parts)
    if score_id == "amap" and category:
        return {"low": "low risk of HCC (below 50)", "medium": "medium risk of HCC (50–60)",
                "high": "high risk of HCC (above 60)"}.get(str(category), str(category))
    if score_id == "galad" and category:
        probability = details.get("probability")
        text = f"{category} (cut-off {number_text(float(details.get('cutoff', -0.63)))})"
        return text + (f"; estimated probability of HCC {percent_text(probability)}" if isinstance(probability, (int, float)) else "")
    if score_id == "bclc" and category:
        return f"stage {category}"
    if score_id == "lung_rads" and category:
        return f"category {category}" + (f": {details['management_text']}" if details.get("management_text") else "")
    if score_id == "brock" and isinstance(value, (int, float)):
        return "estimated probability of malignancy of the most suspicious nodule"
    if score_id == "fleischner":
        return str(details.get("management_text") or (category or "")).replace("_", " ")
    if details.get("management_text"):
        return str(details["management_text"])
    return str(category).replace("_", " ") if category else ""


def _score_value(score_id: str, result: Mapping[str, Any]) -> str:
    value = result.get("value")
    if score_id == "brock" and isinstance(value, (int, float)):
        return percent_text(value)
    if score_id == "fleischner":
        return "—"
    if isinstance(value, bool) or value is None:
        return "—"
    if isinstance(value, (int, float)):
        return number_text(float(value), digits=0 if float(value).is_integer() else 2)
    return str(value).replace("_", " ")


def value_words(value: str) -> str:
    """A coded answer in words: "grade_1_2" -> "grade 1–2", "moderate_severe" -> "moderate or severe"."""
    return re.sub(r"(\d)_(\d)", r"\1–\2", value).replace("moderate_severe", "moderate or severe").replace("_", " ")


def _input_text(used: Mapping[str, Any], ctx: DocumentContext) -> str:
    name = used.get("name")
    code = used.get("code")
    label = (ctx.analyte_name(code) if isinstance(code, str) else None) or words(str(name or code or "input"))
    label = label[:1].upper() + label[1:]
    value = used.get("value")
    if isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, (int, float)):
        shown = f"{number_text(float(value))} {unit_text(used.get('unit'))}".strip()
    elif isinstance(value, str):
        shown = value_words(value)
    else:
        shown = "not stated"
    return f"{label} {shown}"


def _scores(content: Mapping[str, Any], ctx: DocumentContext) -> tuple[list[ScoreLine], list[Row]]:
    scores = content.get("scores") or {}
    order = {score_id: i for i, score_id in enumerate(SCORE_ORDER)}
    computed: list[ScoreLine] = []
    missing: list[Row] = []
    for score_id in sorted(scores, key=lambda s: (order.get(s, 999), s)):
        result = scores[score_id]
        if not isinstance(result, Mapping):
            continue
        if not result.get("computable"):
            lacks = [words(str(m)) for m in result.get("missing", [])]
            missing.append(Row(score_name(score_id), "needs " + ", ".join(lacks) if lacks else "not computable"))
            continue
        inputs = "; ".join(_input_text(u, ctx) for u in result.get("inputs_used", []) if isinstance(u, Mapping))
        reference = str(result.get("citation") or "")
        interpretation = _interpretation(score_id, result)
        nodule = (result.get("details") or {}).get("nodule")  # lung scores: the record nodule it refers to
        if isinstance(nodule, Mapping) and nodule.get("record_id"):
            size = f", {nodule['long_axis_mm']:g} mm" if nodule.get("long_axis_mm") else ""
            interpretation = f"{interpretation} (nodule #{nodule['record_id']}: {words(str(nodule.get('type')))}{size}, {nodule.get('observed_on')})".strip()
        computed.append(ScoreLine(
            score=score_id, name=score_name(score_id), value=_score_value(score_id, result),
            interpretation=interpretation, inputs=inputs, reference=reference,
        ))
    return computed, missing


def _labs(content: Mapping[str, Any], ctx: DocumentContext) -> list[Row]:
    """The laboratory values the scores were computed from, with their dates."""
    rows = []
    for used in (content.get("inputs") or {}).get("inputs_used", []):
        if not isinstance(used, Mapping) or used.get("kind") not in (None, "observation"):
            continue
        code = used.get("code")
        if not isinstance(code, str):
            continue
        value = used.get("value")
        shown = f"{number_text(float(value))} {unit_text(used.get('unit'))}".strip() if isinstance(value, (int, float)) else str(value)
        when = date_text(str(used.get("date") or "")[:10]) if used.get("date") else ""
        if used.get("comparator"):
            shown = f"{used['comparator']}{shown}"
        rows.append(Row(ctx.analyte_name(code) or f"LOINC {code}", f"{shown}" + (f" ({when})" if when else "")))
    return rows


def _learned(content: Mapping[str, Any]) -> list[LearnedModel]:
    out: list[LearnedModel] = []
    for raw in content.get("learned_risk", []):
        if not isinstance(raw, Mapping):
            continue
        key = str(raw.get("key", ""))
        name = LEARNED_NAMES.get(key, key.replace("_", " ") or "Cohort model")
        notes: list[str] = []
        reason = raw.get("abstention_reason") or raw.get("abstained_reason") or raw.get("reason")
        if isinstance(raw.get("abstention"), Mapping):
            reason = raw["abstention"].get("message") or raw["abstention"].get("reason") or reason
        if raw.get("applicable") is False or raw.get("abstained"):
            missing = [words(str(m)) for m in raw.get("missing", [])]
            why = humanise_text(re.sub(r"^\s*not applied:\s*", "", str(reason), flags=re.I)) if reason else ("needs " + ", ".join(missing) if missing else "outside the model's intended use")
            out.append(LearnedModel(name=name, version=str(raw.get("version", "")), result=f"Not applied: {why}",
                                    drivers=[], notes=[], applicable=False))
            continue
        probabilities = raw.get("probabilities") or {}
        parts = [f"{LEARNED_CLASS_NAMES.get(str(label).removeprefix('p_'), str(label).removeprefix('p_').replace('_', ' '))} "
                 f"{percent_text(p)}" for label, p in probabilities.items()]
        if not parts and isinstance(raw.get("risk"), (int, float)):
            parts.append(f"risk {percent_text(raw['risk'])}")
        drivers = []
        for item in (raw.get("contributions") or [])[:5]:
            if not isinstance(item, Mapping):
                continue
            feature = str(item.get("feature") or item.get("name") or "")
            value = item.get("log_odds", item.get("value", item.get("contribution")))
            if not isinstance(value, (int, float)):
                continue
            label = words(feature.removeprefix("log_"))
            drivers.append(f"{label} {'raises' if value >= 0 else 'lowers'} the estimate ({'+' if value >= 0 else '−'}{abs(value):.2f} log-odds)")
        imputed = [words(str(i)) for i in raw.get("imputed", [])]
        if imputed:
            notes.append("Filled in by the model (not on file): " + ", ".join(imputed) + ".")
        notes.append("A cohort model trained on a public research data set: an estimate beside the validated scores, not a diagnosis.")
        out.append(LearnedModel(name=name, version=str(raw.get("version", "")), result=" · ".join(parts) or "—",
                                drivers=drivers, notes=notes, applicable=True))
    return out


def _modifiers(content: Mapping[str, Any]) -> list[Row]:
    rows = []
    for raw in content.get("modifiers", []):
        if not isinstance(raw, Mapping) or raw.get("present") is not True:
            continue
        measure = {"odds_ratio": "odds ratio", "hazard_ratio": "hazard ratio", "relative_risk": "relative risk"}.get(
            str(raw.get("measure")), str(raw.get("measure", "")).replace("_", " "))
        estimate = raw.get("estimate")
        text = f"{measure} {number_text(float(estimate))}" if isinstance(estimate, (int, float)) else measure
        rows.append(Row(str(raw.get("factor")), f"{text} for {raw.get('outcome', '')} ({raw.get('comparison', '')}); {raw.get('citation', '')}"))
    return rows


def _evidence_text(item: Any) -> str:
    if not isinstance(item, Mapping):
        return humanise_text(str(item))
    if item.get("kind") == "score":
        score_id = str(item.get("id"))
        value = item.get("value")
        value_text = number_text(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        category = item.get("category")
        return f"{score_name(score_id)} {value_text}" + (f" ({category_text(score_id, str(category))})" if category else "")
    if item.get("kind") == "imaging":
        parts = [f"Lesion {item.get('index', '')}".strip()]
        if isinstance(item.get("longest_axial_diameter_mm"), (int, float)):
            parts.append(f"{number_text(float(item['longest_axial_diameter_mm']))} mm")
        if isinstance(item.get("volume_ml"), (int, float)):
            parts.append(f"{number_text(float(item['volume_ml']))} mL")
        if item.get("source"):
            parts.append(f"from {item['source']}")
        return ", ".join(parts)
    shown = {k: v for k, v in item.items() if k not in ("kind", "id")}
    return "; ".join(f"{words(str(k))}: {quantity_text(v)}" for k, v in shown.items())


def _recommendations(content: Mapping[str, Any]) -> list[Recommendation]:
    out = []
    for raw in content.get("recommendations", []):
        if not isinstance(raw, Mapping):
            continue
        reference = str(raw.get("citation") or "")
        if raw.get("guideline_version"):
            reference += f" (guideline version: {raw['guideline_version']})"
        out.append(Recommendation(
            title=humanise_text(str(raw.get("title", ""))), statement=humanise_text(str(raw.get("statement", ""))),
            evidence=[_evidence_text(e) for e in raw.get("evidence", [])], reference=reference,
        ))
    return out


def _models(content: Mapping[str, Any], ctx: DocumentContext, blocks: list[ImagingBlock]) -> list[ModelLine]:
    lines: list[ModelLine] = []
    titles = {b.series_uid: b.title for b in blocks}
    for raw in content.get("imaging_findings", []):
        if not isinstance(raw, Mapping) or raw.get("kind") == "noop":
            continue
        model = raw.get("model") or {}
        lines.append(ModelLine(
            name=_imaging_model_name(str(model.get("key", "")), ctx), kind="Imaging",
            version=str(model.get("version", "")), weights_sha256=str(model.get("weights_sha256") or "—"),
            inputs=titles.get(str(raw.get("series_uid")), "imaging series"),
        ))
    observations = (content.get("inputs") or {}).get("scores_request", {}).get("observations", [])
    codes = sorted({str(o.get("code")) for o in observations if isinstance(o, Mapping) and o.get("code")})
    lab_names = ", ".join((ctx.analyte_name(c) or c) for c in codes) or "the record"
    for raw in content.get("learned_risk", []):
        if not isinstance(raw, Mapping):
            continue
        key = str(raw.get("key", ""))
        lines.append(ModelLine(
            name=LEARNED_NAMES.get(key, key.replace("_", " ")), kind="Risk (cohort)", version=str(raw.get("version", "")),
            weights_sha256=str(raw.get("weights_sha256") or "—"),
            inputs=("not applied" if raw.get("applicable") is False or raw.get("abstained") else f"laboratory values: {lab_names}"),
        ))
    return lines


def _second_opinions(content: Mapping[str, Any]) -> list[SecondOpinionLine]:
    """Signed consultant opinions the version carries (``inference.reports.opinions``)."""
    items = content.get("second_opinions")
    return [
        SecondOpinionLine(
            author=str(item.get("author") or "consultant"), signed_at=date_text(item.get("signed_at")),
            urgency=str(item.get("urgency") or "").capitalize(), answer=str(item.get("answer") or ""),
            recommendations=[str(r) for r in item.get("recommendations") or [] if str(r).strip()],
        )
        for item in (items if isinstance(items, list) else []) if isinstance(item, Mapping)
    ]


def document_build(content: Mapping[str, Any], ctx: DocumentContext) -> ReportDocument:
    """The document for ``content`` (pure: everything outside the content comes in ``ctx``)."""
    header = _header(content, ctx)
    imaging, warnings = _imaging(content, ctx)
    if ctx.state == "draft":
        warnings.insert(0, "Draft: not signed. Not for clinical decisions until a clinician signs it.")
    if not ctx.integrity_ok:
        warnings.insert(0, "The content of this report does not match its recorded hash: do not rely on it.")
    review_block = content.get("findings_review")
    if isinstance(review_block, Mapping) and review_block.get("notice"):
        warnings.append(humanise_text(str(review_block["notice"])))
    scores, not_computed = _scores(content, ctx)
    blocks = imaging
    provenance = [
        Row("Analysis requested", f"{header.requested_at} by {header.requester}" if header.requested_at else header.requester),
        Row("Generated", date_text(content.get("generated_at"))),
        Row("Code version", str(content.get("code_version") or "—")),
        Row("Content SHA-256", ctx.content_sha256 or "—"),
        Row("Integrity", "content matches its hash" if ctx.integrity_ok else "content does NOT match its hash"),
    ]
    if ctx.dicom_sr:
        provenance.append(Row("DICOM structured report", ctx.dicom_sr))
    signature = (f"Signed by {ctx.signer} on {header.signed_at}" + (f": “{ctx.sign_comment}”" if ctx.sign_comment else "")
                 if ctx.signed_at else "Not signed.")
    return ReportDocument(
        header=header,
        warnings=list(dict.fromkeys(warnings)),
        imaging=blocks,
        staging=_staging(content),
        scores=scores,
        not_computed=not_computed,
        labs=_labs(content, ctx),
        learned=_learned(content),
        modifiers=_modifiers(content),
        recommendations=_recommendations(content),
        gaps=[humanise_text(str(g.get("message", ""))) for g in content.get("gaps", []) if isinstance(g, Mapping)],
        models=_models(content, ctx, blocks),
        provenance=provenance,
        intended_use=str(content.get("intended_use") or INTENDED_USE_FALLBACK),
        signature=signature,
        printed_note="Patient identity as held in the record when this copy was produced.",
        second_opinions=_second_opinions(content),
    )


# --- from the database -----------------------------------------------------------------------


def user_display_name(user: Any) -> str:
    """A person's name as colleagues read it; the login name only when no name is on file."""
    if user is None:
        return ""
    full = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return full or str(getattr(user, "username", "")) or "unknown user"


def _dicom_sr_text(sr: Mapping[str, Any]) -> str:
    """The report's DICOM SR (TID 1500) as a provenance line: stored (with its UIDs), pending, or failed."""
    status = sr.get("status")
    documents = [d for d in sr.get("documents") or [] if isinstance(d, Mapping)]
    if status == "stored" and documents:
        return "; ".join(f"stored in the image archive with the reviewed measurements (study {d.get('study_uid')}, "
                         f"SOP instance {d.get('sop_instance_uid')})" for d in documents)
    if status == "pending":
        return "being stored in the image archive (the signature does not depend on it)"
    if status == "failed":
        return "could not be made from this report"
    return ""


@cache
def _card_heatmap_caveat(key: str, version: str | None) -> str | None:
    """What the model card says its heatmaps are (the limitation that names them)."""
    try:
        card = model_card_get(key=key, version=version)
    except ModelNotFound:
        return None
    for item in card.data.get("limitations") or []:
        if isinstance(item, str) and re.search(r"grad-?cam|heatmap|saliency", item, re.I):
            return item
    return None


def report_document(report: Any) -> ReportDocument:
    """The document of one report version, with names and series looked up now."""
    content = report.content
    patient = Patient.objects.get(pk=report.patient_id)
    requester_id = (content.get("request") or {}).get("requested_by_user_id") or report.created_by_id
    users = {u.pk: u for u in User.objects.filter(pk__in=[i for i in (requester_id, report.signed_by_id) if i])}
    series_uids = [str(f.get("series_uid")) for f in content.get("imaging_findings", []) if isinstance(f, Mapping) and f.get("series_uid")]
    series = {
        s.series_instance_uid: SeriesInfo(
            study_uid=s.study.study_instance_uid, description=s.description, modality=s.modality,
            date=s.series_date or s.study.study_date, study_description=s.study.description, patient_id=s.study.patient_id,
        )
        for s in ImagingSeries.objects.filter(series_instance_uid__in=series_uids, study__patient_id=report.patient_id).select_related("study")
    }

    def analyte_name(code: str) -> str | None:
        try:
            return analyte_by_code(code).display_name
        except Exception:  # an unknown code is shown by its words, never fails the document
            return None

    versions = {str((f.get("model") or {}).get("key")): (f.get("model") or {}).get("version")
                for f in content.get("imaging_findings", []) if isinstance(f, Mapping)}

    def imaging_model_name(key: str) -> str | None:
        return model_display_name(key=key, version=versions.get(key))

    def heatmap_caveat(key: str) -> str | None:
        return _card_heatmap_caveat(key, versions.get(key))

    ctx = DocumentContext(
        patient_name=f"{patient.family_name.upper()}, {patient.given_name}", mrn=patient.mrn,
        birth_date=patient.birth_date, sex=patient.sex, state=str(report.status), version=report.version,
        created_at=report.created_at, signer=user_display_name(users.get(report.signed_by_id)) if report.signed_by_id else "",
        signed_at=report.signed_at, sign_comment=report.sign_comment or "",
        requester=user_display_name(users.get(requester_id)) if requester_id else "",
        released_at=getattr(report, "released_at", None), content_sha256=report.content_sha256,
        integrity_ok=content_sha256(content) == report.content_sha256, patient_id=report.patient_id,
        series=series, analyte_name=analyte_name, imaging_model_name=imaging_model_name, heatmap_caveat=heatmap_caveat,
        dicom_sr=_dicom_sr_text(getattr(report, "sr", None) or {}),
    )
    return document_build(content, ctx)

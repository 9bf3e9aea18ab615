"""Typed inputs and results of the validated scores.

``ScoreInputs`` holds what a score may read: demographics, laboratory values already in their
canonical unit (``patients.units``), and clinician- or imaging-entered findings. ``None`` always
means "not stated": a score that needs it is then not computable and names it; nothing here is
ever defaulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Sex = Literal["male", "female"]
Ascites = Literal["none", "slight", "moderate_severe"]
Encephalopathy = Literal["none", "grade_1_2", "grade_3_4"]
LiverFunction = Literal["preserved", "end_stage"]
ChildPughClass = Literal["A", "B", "C"]
BclcBPattern = Literal[
    "within_extended_lt_criteria",
    "well_defined_nodules_preserved_portal_flow_selective_access",
    "diffuse_infiltrative_extensive_bilobar",
]
NoduleType = Literal["solid", "part_solid", "non_solid"]
NoduleStatus = Literal["new", "growing", "stable"]
LungRadsCategory = Literal["1", "2", "3", "4A", "4B"]
# A nodule seen before was category 2 or higher (1 means no nodule).
PriorCategory = Literal["2", "3", "4A", "4B"]
ScreeningExam = Literal["baseline", "follow_up"]
NoduleContext = Literal["screening", "incidental"]
NodulePatientRisk = Literal["low", "high"]
FindingSource = Literal["clinician", "imaging"]


@dataclass(frozen=True, slots=True)
class LabValue:
    """One laboratory value in the analyte's canonical unit."""

    key: str
    code: str
    value: float
    unit: str
    date: str | None = None
    # A censored result ("<5"): the true value is comparator value (FHIR Quantity.comparator).
    comparator: str = ""


@dataclass(frozen=True, slots=True)
class Tumour:
    diameter_cm: float
    source: FindingSource | None = None


@dataclass(frozen=True, slots=True)
class Nodule:
    """A lung nodule. ``solid_component_mm``, ``status`` and ``prior_category`` serve Lung-RADS."""

    type: NoduleType
    long_axis_mm: float | None = None
    short_axis_mm: float | None = None
    mean_diameter_mm: float | None = None
    volume_mm3: float | None = None
    solid_component_mm: float | None = None
    upper_lobe: bool | None = None
    spiculated: bool | None = None
    status: NoduleStatus | None = None
    prior_category: PriorCategory | None = None


@dataclass(frozen=True, slots=True)
class Findings:
    dialysis_twice_past_week: bool | None = None
    ascites: Ascites | None = None
    encephalopathy: Encephalopathy | None = None
    cholestatic_disease: bool | None = None
    ecog_ps: int | None = None
    liver_tumours: tuple[Tumour, ...] | None = None
    macrovascular_invasion: bool | None = None
    extrahepatic_spread: bool | None = None
    clinically_significant_portal_hypertension: bool | None = None
    bilirubin_normal: bool | None = None
    liver_function: LiverFunction | None = None
    child_pugh_class: ChildPughClass | None = None
    transplant_candidate: bool | None = None
    bclc_b_pattern: BclcBPattern | None = None
    ast_upper_limit_normal_u_l: float | None = None
    afp_l3_percent: float | None = None
    dcp_ng_ml: float | None = None
    lung_nodules: tuple[Nodule, ...] | None = None
    nodule_count: int | None = None
    lung_screening_exam: ScreeningExam | None = None
    nodule_context: NoduleContext | None = None
    nodule_patient_risk: NodulePatientRisk | None = None
    family_history_lung_cancer: bool | None = None
    emphysema: bool | None = None
    known_cancer_or_immunosuppressed: bool | None = None


@dataclass(frozen=True)
class ScoreInputs:
    """Everything one patient's scores may use; labs are keyed by analyte key (``"albumin"``)."""

    age_years: float | None = None
    sex: Sex | None = None
    labs: Mapping[str, LabValue] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)


@dataclass(frozen=True)
class ScoreResult:
    """One score's outcome. ``missing`` names the inputs whose absence made it not computable."""

    id: str
    computable: bool
    value: int | float | str | None
    category: str | None
    details: dict[str, Any]
    inputs_used: list[dict[str, Any]]
    missing: list[str]
    citation: str
    guideline_version: str
    # Censored inputs the score was computed from, at their reported limit: the result is then
    # a bound, and the response says so (``censored``, ``censored_inputs``, ``details.censored_note``).
    censored_inputs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        censored = {"censored": True, "censored_inputs": self.censored_inputs} if self.censored_inputs else {}
        return {
            "computable": self.computable,
            "value": self.value,
            "category": self.category,
            "details": self.details,
            "inputs_used": self.inputs_used,
            "missing": self.missing,
            "citation": self.citation,
            "guideline_version": self.guideline_version,
            **censored,
        }

"""The patient version of a released report: plain language, built from the signed content.

What a patient reads never carries model keys, weights hashes, raw AI tables, score ids inside
sentences, finding review details or drafts: only what the signing clinician's report says, in
words, with the scores' names and categories. The API, every export and the live events give
patients this version and nothing else (``inference.selectors`` decides which reports).
"""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import escape

from django.template.loader import render_to_string
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from inference.models import Report, ReportStatus
from inference.reports.services import user_display_name

PATIENT_VIEW_SCHEMA = "cdss.report.patient/1"

# Scores a patient may read about, with a plain name and what they measure. A score not listed
# here is left out of the patient version rather than shown by its internal id.
SCORE_NAMES: dict[str, tuple[str, str]] = {
    "meld": ("MELD score", "how well the liver is working"),
    "meld_na": ("MELD-Na score", "how well the liver is working"),
    "meld_3": ("MELD 3.0 score", "how well the liver is working"),
    "child_pugh": ("Child-Pugh class", "how well the liver is working"),
    "albi": ("ALBI grade", "how well the liver is working"),
    "fib4": ("FIB-4", "the likelihood of scarring of the liver"),
    "apri": ("APRI", "the likelihood of scarring of the liver"),
    "amap": ("aMAP score", "the risk of developing liver cancer"),
    "galad": ("GALAD score", "a blood-test based check for liver cancer"),
    "bclc": ("BCLC stage", "the stage of a liver tumour"),
}

# Categories that are bare numbers or letters, in words.
CATEGORY_WORDS = {"albi": "grade {}", "child_pugh": "class {}", "bclc": "stage {}"}

# What each kind of recommendation means for the patient, in words.
RECOMMENDATION_TEXT: dict[str, str] = {
    "liver_function": "Your blood tests were used to assess how well your liver is working.",
    "fibrosis": "Your blood tests were used to estimate whether there is scarring of your liver.",
    "hcc_risk": "Your risk of liver cancer was assessed; your care team will explain whether regular scans are advised.",
    "hcc_staging": "Your scan showed one or more areas in the liver that your care team has reviewed; they will discuss the next steps with you.",
    "chest": "Your chest X-ray was reviewed; your care team will discuss the result with you.",
}

PATIENT_INTENDED_USE = (
    "This report was prepared with the help of computer tools and checked and signed by your clinician. "
    "It does not replace a conversation with your care team: please discuss it with them."
)


def _score_lines(content: dict[str, Any]) -> list[dict[str, str]]:
    lines = []
    for score_id, (name, meaning) in SCORE_NAMES.items():
        result = (content.get("scores") or {}).get(score_id) or {}
        if not result.get("computable"):
            continue
        value = result.get("value")
        category = str(result.get("category") or "")
        if category and score_id in CATEGORY_WORDS:
            category = CATEGORY_WORDS[score_id].format(category)
        shown = str(value) if value is not None else ""
        lines.append({"name": name, "value": shown, "category": category, "about": meaning})
    return lines


def _finding_lines(content: dict[str, Any]) -> list[str]:
    review = content.get("findings_review") or {}
    lines = []
    for finding in review.get("findings", []):
        if finding.get("status") not in ("accepted", "edited", "entered"):
            continue
        if finding.get("kind") == "lesion" and finding.get("counts_as_tumour", True):
            size = finding.get("values", {}).get("longest_axial_diameter_mm")
            lines.append(f"An area in the liver of about {round(float(size))} mm." if isinstance(size, (int, float))
                         else "An area in the liver.")
    return lines


def _advice_lines(content: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for rec in content.get("recommendations") or []:
        text = RECOMMENDATION_TEXT.get(str(rec.get("domain")))
        if text and text not in seen:
            seen.append(text)
    return seen


def report_patient_version(report: Report) -> dict[str, Any]:
    """The patient version of a report (the caller has checked it is released to them)."""
    content = report.content
    return {
        "schema": PATIENT_VIEW_SCHEMA,
        "id": report.pk,
        "patient": report.patient_id,
        "version": report.version,
        "status": report.status,
        "current": report.status == ReportStatus.FINAL,
        "title": "Your liver health report",
        "signed_by": user_display_name(report.signed_by),
        "signed_at": report.signed_at.isoformat() if report.signed_at else None,
        "released_at": report.released_at.isoformat() if report.released_at else None,
        "scores": _score_lines(content),
        "findings": _finding_lines(content),
        "advice": _advice_lines(content),
        "about": PATIENT_INTENDED_USE,
    }


def report_patient_summary(report: Report) -> dict[str, Any]:
    """One row of the patient's list of released reports."""
    return {
        "id": report.pk, "version": report.version, "status": report.status,
        "current": report.status == ReportStatus.FINAL, "title": "Your liver health report",
        "signed_by": user_display_name(report.signed_by),
        "signed_at": report.signed_at.isoformat() if report.signed_at else None,
        "released_at": report.released_at.isoformat() if report.released_at else None,
    }


def report_patient_html(report: Report) -> str:
    return render_to_string("inference/report_patient.html", {"view": report_patient_version(report)})


def report_patient_pdf(report: Report) -> bytes:
    # reportlab takes about 0.3 s to import: loaded by the first PDF, not at web start.
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    view = report_patient_version(report)
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=view["title"])
    story: list[Any] = [
        Paragraph(escape(view["title"]), styles["Title"]),
        Paragraph(escape(f"Signed by {view['signed_by']} on {report.signed_at:%d %B %Y}" if report.signed_at else ""), styles["Normal"]),
        Spacer(1, 8),
    ]
    if view["findings"]:
        story.append(Paragraph("What your scan showed", styles["Heading2"]))
        story.extend(Paragraph(escape(line), styles["Normal"]) for line in view["findings"])
    if view["scores"]:
        story.append(Paragraph("Your results", styles["Heading2"]))
        for line in view["scores"]:
            text = f"{line['name']}: {line['value']}" + (f" ({line['category']})" if line["category"] else "") + f" — {line['about']}."
            story.append(Paragraph(escape(text), styles["Normal"]))
    if view["advice"]:
        story.append(Paragraph("What this means", styles["Heading2"]))
        story.extend(Paragraph(escape(line), styles["Normal"]) for line in view["advice"])
    story.append(Spacer(1, 10))
    story.append(Paragraph(escape(view["about"]), styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()


def report_patient_fhir(report: Report) -> str:
    """A FHIR R4 DiagnosticReport whose conclusion is the plain-language summary (no model data)."""
    view = report_patient_version(report)
    conclusion = " ".join(
        [*view["findings"], *(f"{s['name']}: {s['value']} {s['category']}".strip() + "." for s in view["scores"]),
         *view["advice"]]
    ) or "No results to report."
    resource = DiagnosticReport.model_validate({
        "resourceType": "DiagnosticReport", "id": f"r{report.pk}",
        "status": "final" if report.status == ReportStatus.FINAL else "amended",
        "code": {"text": view["title"]}, "subject": {"reference": f"Patient/{report.patient_id}"},
        "issued": report.released_at.isoformat() if report.released_at else None,
        "conclusion": conclusion[:10000],
        "extension": [{"url": "urn:cdss:report-version", "valueInteger": report.version}],
    })
    return json.dumps(json.loads(resource.model_dump_json(exclude_none=True)), indent=2)

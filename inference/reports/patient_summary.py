"""The readable PDF summary in a patient's "download my record" (reportlab, like the report PDF).

Built from ``patient_results`` only, so it shows exactly what the dashboard shows: released
reports, each score with its explanation, labs against the usual range, genetic findings in
words, and the questions to ask. Nothing model-internal is printed.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from xml.sax.saxutils import escape

from inference.explanations.catalogue import catalogue
from patients.models import Patient
from patients.units import analyte_by_key

FLAG_WORDS = {"low": "below the usual range", "high": "above the usual range", "normal": "in the usual range", "unknown": "no usual range"}


def _date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%d %b %Y}"
    if isinstance(value, dt.date):
        return f"{value:%d %b %Y}"
    return str(value or "")


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def _range_text(reference: dict[str, Any] | None) -> str:
    if not reference:
        return "—"
    low, high, unit = reference.get("low"), reference.get("high"), reference.get("unit") or ""
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)} {unit}".strip()
    if high is not None:
        return f"up to {_number(high)} {unit}".strip()
    return f"from {_number(low)} {unit}".strip() if low is not None else "—"


def patient_summary_pdf(*, patient: Patient, results: dict[str, Any], generated_at: dt.datetime) -> bytes:
    # reportlab takes about 0.3 s to import: loaded by the first PDF, not at web start.
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    general = catalogue()["general"]
    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["Italic"]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title="My health record summary", author="CDSS",
                            subject=f"Summary for {patient.given_name} {patient.family_name}")

    def para(text: str, style: Any = body) -> Any:
        return Paragraph(escape(text), style)

    story: list[Any] = [
        para("My health record summary", styles["Title"]),
        para(f"{patient.given_name} {patient.family_name} · born {_date(patient.birth_date)} · record number {patient.mrn}"),
        para(f"Made on {_date(generated_at)} at {generated_at:%H:%M} UTC from the results your care team has released to you."),
        Spacer(1, 6), para(general["disclaimer"], small), para(general["urgent"], small),
    ]
    questions: list[str] = []
    reports = results["reports"]
    story.append(para("My risk scores", styles["Heading2"]))
    if not reports:
        story.append(para("Your care team has not released a report to you yet."))
    else:
        latest = reports[0]
        story.append(para(f"From report version {latest['version']}, released {_date(latest['released_at'])}."))
        for score in latest["explained"]["scores"]:
            story.append(Paragraph(f"<b>{escape(score['name'])}: {escape(str(score.get('value_text', '')))}</b>", body))
            story.extend(para(text) for text in (score["measures"], score["meaning"], score["next"]))
            story.append(para(f"Source: {score['citation']}", small))
            questions.extend(score["questions"])
        for factor in latest["explained"]["factors"]:
            story.append(para(factor["meaning"]))
        if latest["explained"]["computer_analysis"]:
            story.append(para(latest["explained"]["computer_analysis"], small))
        history = results["score_history"]
        if any(len(points) > 1 for points in history.values()):
            story.append(para("How my scores changed", styles["Heading3"]))
            rows: list[tuple[str, ...]] = [("Score", "Date", "Result")]
            names = {s["score"]: s["name"] for r in reports for s in r["explained"]["scores"]}
            for score_id, points in history.items():
                for point in points:
                    rows.append((names.get(score_id, score_id), _date(point["date"]), str(point.get("value_text") or point["value"])))
            story.append(_table(rows, Table, TableStyle, colors))
    story.append(para("My blood tests (latest)", styles["Heading2"]))
    if not results["labs"]:
        story.append(para("No blood test results are recorded yet."))
    else:
        lab_rows: list[tuple[str, ...]] = [("Test", "Result", "Usual range", "Date", "What it means")]
        for lab in results["labs"]:
            explanation = lab["explanation"]
            name = explanation.get("name") or analyte_by_key(lab["analyte"]).display_name
            lab_rows.append((str(name), f"{_number(lab['value'])} {lab['unit']}".strip(), _range_text(lab["range"]),
                         _date(lab["observed_at"]), FLAG_WORDS.get(explanation.get("flag", "unknown"), "")))
        story.append(_table(lab_rows, Table, TableStyle, colors))
        for lab in results["labs"]:
            explanation = lab["explanation"]
            if explanation.get("flag") in ("low", "high"):
                story.append(Paragraph(f"<b>{escape(explanation['name'])}</b>: {escape(explanation['meaning'])} {escape(explanation['next'])}", body))
                questions.extend(explanation["questions"])
    if results["genetics"]:
        story.append(para("My genetic test results", styles["Heading2"]))
        for finding in results["genetics"]:
            explanation = finding["explanation"]
            label = explanation.get("name") or finding["gene"]
            story.append(Paragraph(f"<b>{escape(label)}</b> (tested {escape(_date(finding['reported_on']))})", body))
            story.append(para(f"{explanation.get('measures', '')} {explanation['meaning']}".strip()))
    if questions:
        story.append(para("Questions I may want to ask", styles["Heading2"]))
        for question in dict.fromkeys(questions):
            story.append(para(f"• {question}"))
    doc.build(story)
    return buffer.getvalue()


def _table(rows: list[tuple[str, ...]], table_cls: Any, style_cls: Any, colors: Any) -> Any:
    table = table_cls(rows, repeatRows=1)
    table.setStyle(style_cls([
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("FONTSIZE", (0, 0), (-1, -1), 9), ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table

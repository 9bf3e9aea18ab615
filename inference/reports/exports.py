"""Report exports: PDF (reportlab), FHIR R4 DiagnosticReport bundle (fhir.resources), printable HTML."""

from __future__ import annotations

import io
import json
from typing import Any

from django.template.loader import render_to_string

from inference.models import Report
from patients.models import Patient


def _score_rows(content: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for score_id, result in sorted(content.get("scores", {}).items()):
        if result.get("computable"):
            rows.append((score_id, str(result.get("value")), str(result.get("category") or "")))
        else:
            rows.append((score_id, "not computable", "; ".join(result.get("missing", []))))
    return rows


def report_context(report: Report) -> dict[str, Any]:
    content = report.content
    patient = Patient.objects.get(pk=report.patient_id)
    return {
        "report": report,
        "patient": patient,
        "content": content,
        "score_rows": _score_rows(content),
        "models": content.get("models", []),
        "recommendations": content.get("recommendations", []),
        "gaps": content.get("gaps", []),
        "imaging_findings": content.get("imaging_findings", []),
        "modifiers": content.get("modifiers", []),
    }


def report_html(report: Report) -> str:
    return render_to_string("inference/report_print.html", report_context(report))


def report_pdf(report: Report) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    ctx = report_context(report)
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=f"CDSS report {report.pk} v{report.version}")
    patient = ctx["patient"]
    story: list[Any] = [
        Paragraph(f"Clinical decision-support report — version {report.version} ({escape(report.status)})", styles["Title"]),
        Paragraph(escape(f"Patient: {patient.family_name}, {patient.given_name} · MRN {patient.mrn} · born {patient.birth_date}"), styles["Normal"]),
        Paragraph(escape(f"Created {report.created_at:%Y-%m-%d %H:%M} UTC · SHA-256 {report.content_sha256}"), styles["Normal"]),
        Spacer(1, 8),
        Paragraph("Recommendations", styles["Heading2"]),
    ]
    for rec in ctx["recommendations"]:
        story.append(Paragraph(f"<b>{escape(rec['title'])}</b>: {escape(rec['statement'])}", styles["Normal"]))
        story.append(Paragraph(f"<i>{escape(rec.get('citation', ''))}</i>", styles["Normal"]))
    if ctx["gaps"]:
        story.append(Paragraph("Gaps to fill", styles["Heading2"]))
        for gap in ctx["gaps"]:
            story.append(Paragraph(escape(gap["message"]), styles["Normal"]))
    story.append(Paragraph("Scores", styles["Heading2"]))
    table = Table([("score", "value", "category / missing"), *ctx["score_rows"]], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey)]))
    story.append(table)
    story.append(Paragraph("Models", styles["Heading2"]))
    for model in ctx["models"]:
        story.append(Paragraph(escape(f"{model.get('key')} v{model.get('version')} · weights SHA-256 {model.get('weights_sha256')}"), styles["Normal"]))
    story.append(Paragraph(escape(f"Code version {report.content.get('code_version')}"), styles["Normal"]))
    if report.status != "draft" and report.signed_at:
        story.append(Paragraph(escape(f"Signed {report.signed_at:%Y-%m-%d %H:%M} UTC by user {report.signed_by_id}: {report.sign_comment}"), styles["Normal"]))
    story.append(Spacer(1, 10))
    story.append(Paragraph(escape(report.content.get("intended_use", "")), styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()


def report_fhir_bundle(report: Report) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: DiagnosticReport, RiskAssessment and the Observations used."""
    from fhir.resources.R4B.bundle import Bundle

    content = report.content
    patient_ref = {"reference": f"Patient/{report.patient_id}"}
    observations = []
    for index, used in enumerate(content.get("inputs", {}).get("scores_request", {}).get("observations", [])):
        resource: dict[str, Any] = {
            "resourceType": "Observation", "id": f"r{report.pk}-obs{index}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": used["code"]}]},
            "subject": patient_ref,
            "valueQuantity": {"value": used["value"], "unit": used["unit"], "system": "http://unitsofmeasure.org", "code": used["unit"]},
        }
        if used.get("date"):
            resource["effectiveDateTime"] = used["date"]
        observations.append(resource)
    predictions = [
        {"outcome": {"text": f"{score_id}: {result.get('category') or result.get('value')}"},
         **({"probabilityDecimal": result["details"]["probability"]} if isinstance(result.get("details", {}).get("probability"), (int, float)) else {})}
        for score_id, result in sorted(content.get("scores", {}).items()) if result.get("computable")
    ]
    risk = {
        "resourceType": "RiskAssessment", "id": f"r{report.pk}-risk", "status": "final" if report.status == "final" else "preliminary",
        "subject": patient_ref, "basis": [{"reference": f"Observation/{o['id']}"} for o in observations],
        "prediction": predictions or [{"outcome": {"text": "no computable score"}}],
        "note": [{"text": content.get("intended_use", "")}],
    }
    diagnostic = {
        "resourceType": "DiagnosticReport", "id": f"r{report.pk}",
        "status": "final" if report.status == "final" else ("amended" if report.status == "amended" else "preliminary"),
        "code": {"text": "Liver disease clinical decision-support report"},
        "subject": patient_ref, "issued": report.created_at.isoformat(),
        "result": [{"reference": f"Observation/{o['id']}"} for o in observations],
        "conclusion": " ".join(r["statement"] for r in content.get("recommendations", []))[:10000] or "No recommendations.",
        "identifier": [{"system": "urn:cdss:report-sha256", "value": report.content_sha256}],
        "extension": [{"url": "urn:cdss:report-version", "valueInteger": report.version}],
    }
    bundle = Bundle.model_validate({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"fullUrl": f"urn:cdss:{r['resourceType']}/{r['id']}", "resource": r} for r in (diagnostic, risk, *observations)],
    })
    return json.loads(bundle.model_dump_json(exclude_none=True))


def report_fhir_json(report: Report) -> str:
    return json.dumps(report_fhir_bundle(report), indent=2)

"""Report exports: PDF (reportlab), FHIR R4 DiagnosticReport bundle (fhir.resources), printable HTML.

The PDF and the HTML are laid out from one document (``inference.reports.presentation``), the
same one the report page shows, plus a key image per lesion read from the PACS at export time
(``inference.reports.key_images``).
"""

from __future__ import annotations

import base64
import io
import json
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.template.loader import render_to_string
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from inference.models import Report
from inference.reports.key_images import (
    HeatmapImage,
    InstanceFetch,
    KeyImage,
    heatmap_images_for_document,
    key_images_for_document,
)
from inference.reports.presentation import (
    ReportDocument,
    category_text,
    humanise_text,
    report_document,
    score_name,
)

# DejaVu (Debian's fonts-dejavu-core) covers the minus sign, superscripts and arrows the document
# uses; reportlab's own Vera is the fallback, with the few glyphs it lacks spelled in ASCII.
_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf"),
)
_ASCII_FALLBACK = {"\u2079": "^9", "\u00b3": "^3", "\u25b2": "^", "\u25bc": "v", "\u2265": ">=", "\u2264": "<=", "\u2212": "-"}


def _document_with_images(
    report: Report, fetch: InstanceFetch | None,
) -> tuple[ReportDocument, dict[tuple[int, int], KeyImage], dict[tuple[int, int], HeatmapImage]]:
    document = report_document(report)
    return (document, key_images_for_document(document, report.content, fetch=fetch),
            heatmap_images_for_document(document, report.content, fetch=fetch))


def report_html(report: Report, *, fetch: InstanceFetch | None = None) -> str:
    document, images, heatmap_images = _document_with_images(report, fetch)
    blocks = []
    for index, block in enumerate(document.imaging):
        lesions = []
        for lesion in block.lesions:
            image = images.get((index, lesion.number))
            lesions.append({
                "lesion": lesion,
                "image": ("data:image/png;base64," + base64.b64encode(image.png).decode()) if image and image.png else None,
                "caption": image.caption if image else "",
            })
        heatmaps = []
        for heatmap in block.heatmaps:
            shown = heatmap_images.get((index, heatmap.number))
            heatmaps.append({"number": heatmap.number, "result": heatmap.result, "caption": shown.caption if shown else heatmap.caveat,
                             "image": ("data:image/png;base64," + base64.b64encode(shown.png).decode()) if shown else heatmap.image})
        blocks.append({"block": block, "lesions": lesions, "heatmaps": heatmaps})
    return render_to_string("inference/report_print.html", {
        "doc": document, "blocks": blocks, "printed_at": timezone.now(),
    })


@cache
def _pdf_fonts() -> tuple[str, str, str, frozenset[int]]:
    """(regular, bold, italic) font names registered with reportlab, and the code points they cover."""
    # reportlab takes about 0.3 s to import: loaded by the first PDF, not at web start.
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    vera = Path(reportlab.__file__).parent / "fonts"
    candidates = [*_FONT_CANDIDATES, (str(vera / "Vera.ttf"), str(vera / "VeraBd.ttf"), str(vera / "VeraIt.ttf"))]
    for regular, bold, italic in candidates:
        if all(Path(p).is_file() for p in (regular, bold, italic)):
            names = ("CdssSans", "CdssSans-Bold", "CdssSans-Italic")
            fonts = [TTFont(name, path) for name, path in zip(names, (regular, bold, italic), strict=True)]
            for font in fonts:
                pdfmetrics.registerFont(font)
            pdfmetrics.registerFontFamily(names[0], normal=names[0], bold=names[1], italic=names[2], boldItalic=names[1])
            return names[0], names[1], names[2], frozenset(fonts[0].face.charToGlyph)
    raise RuntimeError("no TrueType font for the PDF (reportlab's Vera is missing)")


def _pdf_text(text: str) -> str:
    """Escaped for a reportlab Paragraph, glyphs the font lacks spelled in ASCII."""
    covered = _pdf_fonts()[3]
    return escape("".join(ch if ord(ch) in covered or ch in "\n\t" else _ASCII_FALLBACK.get(ch, "?") for ch in text))


def report_pdf(report: Report, *, fetch: InstanceFetch | None = None) -> bytes:
    # reportlab takes about 0.3 s to import: loaded by the first PDF, not at web start.
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    document, images, heatmap_images = _document_with_images(report, fetch)
    regular, bold, italic, _covered = _pdf_fonts()
    header = document.header
    t = _pdf_text
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444"))
    title = ParagraphStyle("title", parent=base, fontName=bold, fontSize=15, leading=19, spaceAfter=2)
    h2 = ParagraphStyle("h2", parent=base, fontName=bold, fontSize=11.5, leading=14, spaceBefore=9, spaceAfter=4,
                        textColor=colors.HexColor("#1f3a5f"))
    h3 = ParagraphStyle("h3", parent=base, fontName=bold, fontSize=9.5, leading=12, spaceBefore=5, spaceAfter=2)
    state_style = ParagraphStyle("state", parent=base, fontName=bold, fontSize=11, alignment=TA_RIGHT,
                                 textColor=colors.HexColor("#b00020" if header.state == "draft" else "#1b5e20"))
    warn = ParagraphStyle("warn", parent=base, fontName=bold, textColor=colors.HexColor("#b00020"))
    cells = [
        ("FONTNAME", (0, 0), (-1, -1), regular), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    grid = TableStyle([*cells, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3"))])
    plain = TableStyle(cells)
    width = A4[0] - 36 * mm

    def p(text: str, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(t(text), style)

    def table(rows: list[list[Any]], widths: list[float], *, head: bool = True) -> Table:
        built = Table([[c if not isinstance(c, str) else p(c) for c in row] for row in rows],
                      colWidths=[w * width for w in widths], repeatRows=1 if head else 0)
        built.setStyle(grid if head else plain)
        return built

    facts = TableStyle([
        ("FONTSIZE", (0, 0), (-1, -1), 8.5), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor("#9aa5b1")),
        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f5f7fa")),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ])

    def label_value(label: str, value: str) -> Paragraph:
        return Paragraph(f"<font size=7 color='#555555'>{t(label)}</font><br/>{t(value or '—')}", base)

    story: list[Any] = [
        Table([[p(header.title, title), Paragraph(t(f"{header.state_label} · version {header.version}"), state_style)]],
              colWidths=[0.68 * width, 0.32 * width], style=TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM")])),
        Table([
            [label_value("Patient", header.patient_name), label_value("MRN", header.mrn),
             label_value("Date of birth", f"{header.birth_date} ({header.age})"), label_value("Sex", header.sex)],
            [label_value("Requested by", header.requester), label_value("Requested", header.requested_at),
             label_value("Created", header.created_at), label_value("State", header.state_label)],
            [label_value("Signed by", header.signer or "not signed"), label_value("Signed", header.signed_at or "—"),
             label_value("Released to the patient", header.released_at or "not released"), label_value("Report version", str(header.version))],
        ], colWidths=[0.28 * width, 0.25 * width, 0.27 * width, 0.2 * width], style=facts),
        Spacer(1, 4),
    ]
    for warning in document.warnings:
        story.append(p(warning, warn))
    if header.amendment:
        story.append(p(header.amendment, h3))

    story.append(p("1. Imaging findings", h2))
    if not document.imaging:
        story.append(p("No imaging was analysed for this report."))
    for index, block in enumerate(document.imaging):
        story.append(p(block.title, h3))
        story.append(p(" · ".join(x for x in (block.study, f"Model: {block.model}") if x), small))
        if block.summary:
            story.append(table([["Measurement", "Value"], *[[r.label, r.value] for r in block.summary]], [0.5, 0.5]))
        if block.lesions:
            rows: list[list[Any]] = [["#", "Longest diameter", "Volume", "Mean attenuation", "Images", "Confidence", "Review"]]
            rows += [[str(lesion.number), lesion.diameter, lesion.volume, lesion.density, lesion.slices, lesion.confidence,
                      lesion.review or "—"] for lesion in block.lesions]
            story.append(Spacer(1, 3))
            story.append(table(rows, [0.05, 0.16, 0.1, 0.13, 0.15, 0.12, 0.29]))
            for note in block.notes:
                story.append(p(note, small))
            for lesion in block.lesions:
                image = images.get((index, lesion.number))
                if image is None:
                    continue
                if image.png:
                    picture = Image(io.BytesIO(image.png))
                    ratio = picture.imageHeight / picture.imageWidth
                    picture.drawWidth = min(width, 150 * mm)
                    picture.drawHeight = picture.drawWidth * ratio
                    story.append(KeepTogether([Spacer(1, 4), p(f"Key image, lesion {lesion.number}", h3), picture, p(image.caption, small)]))
                else:
                    story.append(p(image.caption, small))
        if block.predictions:
            story.append(table([["Finding", "Result"], *[[r.label, r.value] for r in block.predictions]], [0.4, 0.6]))
            # Each heatmap as a key image beside the probability it explains, with the card's caveat.
            for heatmap in block.heatmaps:
                shown = heatmap_images.get((index, heatmap.number))
                if shown is None:
                    continue
                picture = Image(io.BytesIO(shown.png))
                picture.drawWidth = min(0.62 * width, 110 * mm)
                picture.drawHeight = picture.drawWidth * picture.imageHeight / picture.imageWidth
                beside = [p(f"Heatmap, image {heatmap.number}", h3), p(heatmap.result), Spacer(1, 3), p(shown.caption, small)]
                story.append(KeepTogether([Spacer(1, 4), Table(
                    [[picture, beside]], colWidths=[picture.drawWidth + 4 * mm, width - picture.drawWidth - 4 * mm],
                    style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))]))
    if document.staging:
        story.append(p("Staging", h3))
        story.append(table([[r.label, r.value] for r in document.staging], [0.4, 0.6], head=False))

    story.append(CondPageBreak(40 * mm))
    story.append(p("2. Scores", h2))
    if document.scores:
        rows = [["Score", "Value", "Interpretation", "Based on"]]
        rows += [[s.name, s.value, s.interpretation, s.inputs] for s in document.scores]
        story.append(table(rows, [0.13, 0.09, 0.4, 0.38]))
    else:
        story.append(p("No score could be computed from the record."))
    if document.not_computed:
        story.append(Spacer(1, 3))
        story.append(p("Not computed: " + "; ".join(f"{r.label} ({r.value})" for r in document.not_computed) + ".", small))
    if document.labs:
        story.append(p("Laboratory values used", h3))
        story.append(table([["Test", "Value (date)"], *[[r.label, r.value] for r in document.labs]], [0.5, 0.5]))
    if document.learned:
        story.append(p("Cohort models", h3))
        for model in document.learned:
            story.append(Paragraph(f"<b>{t(model.name)}</b> (v{t(model.version)}): {t(model.result)}",
                                   ParagraphStyle("learned", parent=base, spaceBefore=4)))
            for driver in model.drivers:
                story.append(p(f"• {driver}", small))
            for note in model.notes:
                story.append(p(note, small))
    if document.modifiers:
        story.append(p("Genetic and lifestyle modifiers", h3))
        for row in document.modifiers:
            story.append(p(f"{row.label}: {row.value}", small))

    story.append(CondPageBreak(40 * mm))
    story.append(p("3. Recommendations", h2))
    if not document.recommendations:
        story.append(p("No recommendation."))
    for number, rec in enumerate(document.recommendations, start=1):
        parts = [p(f"{number}. {rec.title}", h3), p(rec.statement)]
        if rec.evidence:
            parts.append(p("Evidence: " + "; ".join(rec.evidence), small))
        if rec.reference:
            parts.append(p(rec.reference, small))
        story.append(KeepTogether(parts))
    if document.gaps:
        story.append(p("Information that would complete this report", h3))
        for gap in document.gaps:
            story.append(p(f"• {gap}"))

    story.append(CondPageBreak(50 * mm))
    story.append(p("4. Models and provenance", h2))
    if document.models:
        rows = [["Model", "Type", "Version", "Inputs", "Weights SHA-256"]]
        rows += [[m.name, m.kind, m.version, m.inputs, Paragraph(t(m.weights_sha256), small)] for m in document.models]
        story.append(table(rows, [0.25, 0.11, 0.1, 0.25, 0.29]))
    else:
        story.append(p("No model was used (validated scores only)."))
    story.append(Spacer(1, 3))
    story.append(table([[r.label, Paragraph(t(r.value), small)] for r in document.provenance], [0.25, 0.75], head=False))

    story.append(p("Sign-off", h2))
    story.append(p(document.signature, h3 if header.signer else base))
    story.append(Spacer(1, 6))
    story.append(Table([[p("Intended use: " + document.intended_use, ParagraphStyle("use", parent=base, fontName=italic))]],
                       colWidths=[width], style=TableStyle([("BOX", (0, 0), (-1, -1), 0.5, colors.HexColor("#9aa5b1")),
                                                            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fff8e1"))])))
    story.append(p(f"{document.printed_note} Printed {timezone.now():%d %b %Y %H:%M} UTC.", small))

    footer = t(f"{header.patient_name} · MRN {header.mrn} · report version {header.version} ({header.state_label.lower()}) · "
               "supports, not replaces, a clinician's judgement")

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        if header.state == "draft":
            # Every page of an unsigned report says so, wherever it is read or copied.
            canvas.setFont(bold, 54)
            canvas.setFillColor(colors.Color(0.75, 0.1, 0.1, alpha=0.12))
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(45)
            canvas.drawCentredString(0, 0, "DRAFT · NOT SIGNED")
            canvas.rotate(-45)
            canvas.translate(-A4[0] / 2, -A4[1] / 2)
        canvas.setFont(regular, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(18 * mm, 10 * mm, footer.replace("&amp;", "&"))
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=15 * mm, bottomMargin=18 * mm,
                            title=f"{header.title}, version {header.version}", author=header.signer or header.requester,
                            subject=f"{header.patient_name} ({header.mrn})")
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def report_fhir_bundle(report: Report) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: DiagnosticReport, RiskAssessment and the Observations used."""
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
        {"outcome": {"text": f"{score_name(score_id)}: {category_text(score_id, str(result.get('category') or result.get('value')))}"},
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
        "conclusion": humanise_text(" ".join(r["statement"] for r in content.get("recommendations", [])))[:10000] or "No recommendations.",
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

"""CDS Hooks 2.0 cards built from score results and local records.

Every card carries its source; cards about AI output say which model and version made it and
that it supports, not replaces, clinical judgement.
"""

from __future__ import annotations

import uuid
from typing import Any

JUDGEMENT = "Decision support: it supports, not replaces, clinical judgement."
SCORE_NAMES = {"meld_3": "MELD 3.0", "child_pugh": "Child-Pugh", "albi": "ALBI"}
SURVEILLANCE_SOURCE = {
    "label": "EASL HCC guideline 2018; AASLD HCC practice guidance 2023",
    "url": "https://doi.org/10.1016/j.jhep.2018.03.019",
}
ULTRASOUND = {"system": "http://snomed.info/sct", "code": "45036003", "display": "Ultrasonography of abdomen"}
AFP = {"system": "http://loinc.org", "code": "1834-1", "display": "Alpha-1-Fetoprotein [Mass/volume] in Serum or Plasma"}
TRANSPLANT_REFERRAL = {"system": "http://snomed.info/sct", "code": "306236003", "display": "Referral to transplant surgeon"}


def _uuid() -> str:
    return str(uuid.uuid4())


def _truncate(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source(base_url: str) -> dict[str, Any]:
    return {"label": "CDSS liver decision support", "url": base_url}


def _input_line(item: dict[str, Any]) -> str:
    value, unit, date = item.get("value"), item.get("unit"), item.get("date")
    text = f"- {item.get('name')}: {value}" + (f" {unit}" if unit and unit != "a" else " years" if unit == "a" else "")
    return text + (f" ({str(date)[:10]})" if date else "")


def score_card(score_id: str, result: dict[str, Any], *, base_url: str, origin: str, ehr_patient_id: str) -> dict[str, Any]:
    name = SCORE_NAMES[score_id]
    if result.get("computable"):
        category = f", {'class' if score_id == 'child_pugh' else 'grade'} {result['category']}" if result.get("category") else ""
        summary = f"{name}: {result['value']}{category}"
        indicator = "warning" if (score_id == "meld_3" and isinstance(result["value"], int | float) and result["value"] >= 15) or (
            score_id == "child_pugh" and result.get("category") in ("B", "C")) else "info"
    else:
        summary = f"{name}: not computable (lacks {', '.join(result.get('missing') or ['inputs'])})"
        indicator = "info"
    detail = "\n".join([
        f"**Inputs ({origin})**", *(_input_line(i) for i in result.get("inputs_used") or []), "",
        f"Citation: {result.get('citation', '')}", f"Version: {result.get('guideline_version', '')}", "", JUDGEMENT,
    ])
    card: dict[str, Any] = {
        "uuid": _uuid(), "summary": _truncate(summary), "detail": detail, "indicator": indicator,
        "source": {**source(base_url), "topic": {"system": "urn:cdss:fhir:codes", "code": score_id, "display": name}},
    }
    if score_id == "meld_3" and indicator == "warning":
        card["suggestions"] = [{
            "label": "Refer for liver transplant evaluation (MELD 3.0 >= 15)", "uuid": _uuid(), "isRecommended": False,
            "actions": [{"type": "create", "description": "Referral for liver transplant evaluation", "resource": {
                "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                "code": {"coding": [TRANSPLANT_REFERRAL], "text": "Liver transplant evaluation"},
                "subject": {"reference": f"Patient/{ehr_patient_id}"},
            }}],
        }]
        card["selectionBehavior"] = "at-most-one"
    return card


def surveillance_card(*, reasons: list[str], last_imaging: str | None, ehr_patient_id: str, base_url: str) -> dict[str, Any]:
    last = f"Last liver imaging: {last_imaging}." if last_imaging else "No liver ultrasound, CT or MRI found."
    return {
        "uuid": _uuid(),
        "summary": "HCC surveillance due: ultrasound +/- AFP every 6 months",
        "detail": "\n".join([
            f"At high risk of hepatocellular carcinoma: {', '.join(reasons)}. {last}", "",
            "EASL Clinical Practice Guidelines: Management of hepatocellular carcinoma, J Hepatol 2018;69:182-236. "
            "AASLD practice guidance on HCC prevention, diagnosis and treatment (Singal AG et al.), Hepatology 2023;78:1922-1965: "
            "abdominal ultrasound with or without AFP every 6 months in cirrhosis or chronic hepatitis B at high risk.",
            "", JUDGEMENT,
        ]),
        "indicator": "warning",
        "source": SURVEILLANCE_SOURCE,
        "suggestions": [{
            "label": "Order abdominal ultrasound and AFP", "uuid": _uuid(), "isRecommended": True,
            "actions": [
                {"type": "create", "description": "Abdominal ultrasound for HCC surveillance", "resource": {
                    "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                    "code": {"coding": [ULTRASOUND], "text": "Liver ultrasound (HCC surveillance)"},
                    "subject": {"reference": f"Patient/{ehr_patient_id}"},
                }},
                {"type": "create", "description": "Serum AFP", "resource": {
                    "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                    "code": {"coding": [AFP], "text": "AFP"},
                    "subject": {"reference": f"Patient/{ehr_patient_id}"},
                }},
            ],
        }],
        "selectionBehavior": "at-most-one",
    }


def smart_link(*, label: str, base_url: str, app_context: str) -> dict[str, Any]:
    return {"label": label, "url": f"{base_url.rstrip('/')}/smart/launch", "type": "smart", "appContext": app_context}


def findings_card(*, count: int, models: list[str], local_patient_id: int, base_url: str) -> dict[str, Any]:
    return {
        "uuid": _uuid(),
        "summary": _truncate(f"AI findings awaiting review: {count}"),
        "detail": f"Proposed by {', '.join(models) or 'an imaging model'}; a clinician accepts, edits or rejects each. {JUDGEMENT}",
        "indicator": "warning",
        "source": source(base_url),
        "links": [smart_link(label="Review findings in CDSS", base_url=base_url, app_context=f"patient={local_patient_id}&view=findings")],
    }


def report_card(*, version: int, signed_on: str, local_patient_id: int, report_id: int, base_url: str) -> dict[str, Any]:
    return {
        "uuid": _uuid(),
        "summary": f"Signed liver decision-support report available (version {version}, {signed_on})",
        "detail": f"Signed by a clinician on {signed_on}. {JUDGEMENT}",
        "indicator": "info",
        "source": source(base_url),
        "links": [smart_link(label="Open the signed report", base_url=base_url, app_context=f"patient={local_patient_id}&report={report_id}")],
    }


def protocol_card(*, reasons: list[str], base_url: str) -> dict[str, Any]:
    return {
        "uuid": _uuid(),
        "summary": "At risk of HCC: order the liver CT/MRI as a multiphase contrast-enhanced study",
        "detail": "\n".join([
            f"At high risk of hepatocellular carcinoma: {', '.join(reasons)}.", "",
            "For HCC diagnosis and staging, CT or MRI should be multiphase with contrast (late arterial, portal venous and "
            "delayed phases), as the ACR LI-RADS CT/MRI technical recommendations describe and AASLD practice guidance "
            "(Singal AG et al., Hepatology 2023;78:1922-1965) assumes. A single-phase study cannot be categorised by LI-RADS.",
            "", JUDGEMENT,
        ]),
        "indicator": "info",
        "source": {"label": "ACR LI-RADS CT/MRI technique; AASLD HCC practice guidance 2023",
                   "url": "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/LI-RADS"},
    }

"""FHIR R4 export and import, CSV import: round trips, dry runs, all-or-nothing."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from fhir.resources.R4B.bundle import Bundle

from cdss.audit.models import AuditAction, AuditOutcome
from patients.interchange.fhir import ENTERED_QUANTITY_URL, LOINC, MRN_SYSTEM, UCUM
from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord
from tests.conftest import World, client_for
from tests.patients.helpers import audit_entries, days_ago, patient_url
from tests.patients.test_records_api import FINDING, LIFESTYLE, PNPLA3

pytestmark = pytest.mark.django_db

OBSERVATIONS = [
    {"code": "1742-6", "value": 0.8, "unit": "ukat/L", "observed_at": "2024-01-05T09:15:00.250000Z", "specimen": "serum", "reference_low": 0.1, "reference_high": 0.9},
    {"code": "1975-2", "value": 1.3, "unit": "mg/dL", "observed_at": "2024-01-05T09:15:00Z"},
    {"code": "777-3", "value": 142000, "unit": "/mm3", "observed_at": "2024-01-05T09:15:00Z"},
    {"code": "6301-6", "value": 1.2, "unit": "", "observed_at": "2024-01-05"},
    {"code": "1751-7", "value": 36, "unit": "g/L", "observed_at": "2023-11-20T14:00:00+01:00"},
]
HFE = {"gene": "HFE", "rsid": "rs1800562", "hgvs": "NP_000401.1:p.Cys282Tyr", "zygosity": "absent", "reported_on": "2022-09-01"}

NO_RECORDS = {"genetic_finding": 0, "lifestyle_record": 0, "clinical_finding": 0}
OBSERVATION_FIELDS = ["code", "value", "unit", "value_canonical", "unit_canonical", "observed_at", "specimen", "reference_low", "reference_high"]


def _populate(world: World) -> None:
    client = client_for(world.clinician)
    pid = world.patient.pk
    assert client.post(patient_url(pid, "observations/"), {"observations": OBSERVATIONS}, format="json").status_code == 201
    for path, body in (("genetics", PNPLA3), ("genetics", HFE), ("lifestyle", LIFESTYLE), ("findings", FINDING)):
        assert client.post(patient_url(pid, f"{path}/"), body, format="json").status_code == 201


def _snapshot(world: World) -> dict[str, list[dict[str, Any]]]:
    def rows(model: Any, fields: list[str], order: str) -> list[dict[str, Any]]:
        return list(model.objects.filter(patient=world.patient).order_by(order, "value" if model is LabObservation else "id").values(*fields))

    return {
        "observations": rows(LabObservation, OBSERVATION_FIELDS, "observed_at"),
        "genetics": rows(GeneticFinding, ["gene", "rsid", "hgvs", "genotype", "zygosity", "assay", "reported_on"], "reported_on"),
        "lifestyle": rows(LifestyleRecord, [f for f in LIFESTYLE] + ["bmi", "alcohol_g_per_day"], "recorded_on"),
        "findings": rows(ClinicalFinding, list(FINDING), "assessed_on"),
    }


def _delete_records(world: World) -> None:
    for model in (LabObservation, GeneticFinding, LifestyleRecord, ClinicalFinding):
        model.objects.filter(patient=world.patient).delete()


def _import(world: World, document: Any, *, dry_run: bool = False, user: Any = None, **kwargs: Any) -> Any:
    url = patient_url(world.patient.pk, "import/") + ("?dry_run=true" if dry_run else "")
    return client_for(user or world.clinician).post(url, document, **({"format": "json"} | kwargs))


def _export(world: World) -> dict[str, Any]:
    response = client_for(world.clinician).get(patient_url(world.patient.pk, "fhir/"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    return response.json()


def test_export_is_a_valid_fhir_r4_bundle_with_loinc_ucum_and_ranges(world: World) -> None:
    _populate(world)
    document = _export(world)
    bundle = Bundle.model_validate(document)  # the model library accepts it
    assert bundle.type == "collection"
    resources = [entry["resource"] for entry in document["entry"]]
    patient = resources[0]
    assert patient["resourceType"] == "Patient"
    assert patient["identifier"][0] == {**patient["identifier"][0], "system": MRN_SYSTEM, "value": world.patient.mrn}
    assert patient["birthDate"] == world.patient.birth_date.isoformat()
    labs = [r for r in resources if r["id"].startswith("lab-")]
    assert len(labs) == len(OBSERVATIONS)
    alt = next(r for r in labs if r["code"]["coding"][0]["code"] == "1742-6")
    assert alt["code"]["coding"][0]["system"] == LOINC
    assert alt["valueQuantity"] == {"value": pytest.approx(48.0), "unit": "U/L", "system": UCUM, "code": "U/L"}
    assert alt["effectiveDateTime"] == "2024-01-05T09:15:00.250000Z"
    assert alt["referenceRange"][0]["low"]["value"] == pytest.approx(6.0)
    assert alt["referenceRange"][0]["high"]["value"] == pytest.approx(54.0)
    assert alt["extension"] == [{"url": ENTERED_QUANTITY_URL, "valueQuantity": {"value": 0.8, "unit": "ukat/L"}}]
    assert alt["specimen"] == {"display": "serum"}
    bilirubin = next(r for r in labs if r["code"]["coding"][0]["code"] == "1975-2")
    # No laboratory range stored: the catalogue's generic one, marked as such.
    assert bilirubin["referenceRange"][0]["type"]["coding"][0]["code"] == "catalogue-generic-range"
    assert {r["id"].split("-")[0] for r in resources[1:]} == {"lab", "genetic", "lifestyle", "finding"}
    (entry,) = audit_entries(action=AuditAction.EXPORT)
    assert entry.patient_id == world.patient.pk and entry.detail == {"format": "fhir-r4", "entries": 10}


def test_export_then_import_gives_the_same_records(world: World) -> None:
    _populate(world)
    before = _snapshot(world)
    document = _export(world)
    _delete_records(world)
    dry = _import(world, document, dry_run=True)
    assert dry.status_code == 200, dry.content
    assert dry.json()["valid"] is True
    assert not LabObservation.objects.exists()  # a dry run saves nothing
    response = _import(world, document)
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["records"] == {"observation": 5, "genetic_finding": 2, "lifestyle_record": 1, "clinical_finding": 1}
    assert report["errors"] == [] and report["duplicates"] == 0
    assert _snapshot(world) == before
    assert set(LabObservation.objects.values_list("source", flat=True)) == {"fhir"}
    imports = audit_entries(action=AuditAction.CREATE, object_type="patient_import")
    assert [e.detail["dry_run"] for e in imports] == [True, False]


def test_importing_the_same_bundle_again_adds_nothing(world: World) -> None:
    _populate(world)
    before = _snapshot(world)
    report = _import(world, _export(world)).json()
    assert report["records"] == {"observation": 0, "genetic_finding": 0, "lifestyle_record": 0, "clinical_finding": 0}
    assert report["duplicates"] == 9
    assert _snapshot(world) == before


def test_a_bundle_for_another_patient_is_refused(world: World) -> None:
    _populate(world)
    document = _export(world)
    response = client_for(world.admin).post(patient_url(world.other_patient.pk, "import/"), document, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "patient_mismatch"
    assert not LabObservation.objects.filter(patient=world.other_patient).exists()


def _lab(code: str, value: Any, unit: str, when: str = "2024-02-01T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            "effectiveDateTime": when,
            **extra,
        }
    }


def _bundle(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}


def test_observations_from_another_system_are_converted(world: World) -> None:
    document = _bundle(
        _lab("1975-2", 2.0, "mg/dL", referenceRange=[{"low": {"value": 0.1, "unit": "mg/dL"}, "high": {"value": 1.2, "unit": "mg/dL"}}]),
        _lab("2160-0", 1.1, "mg/dL"),
        {"resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}},
        {"resource": {**_lab("1742-6", 40, "U/L")["resource"], "status": "entered-in-error"}},
        {"resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
            "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]},
            "effectiveDateTime": "2024-02-01",
        }},
    )
    response = _import(world, document)
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["skipped"] == {"Encounter": 1, "Observation (entered-in-error)": 1}
    bilirubin = LabObservation.objects.get(code="1975-2")
    assert (bilirubin.value, bilirubin.unit, bilirubin.value_canonical) == (2.0, "mg/dL", pytest.approx(34.2))
    assert (bilirubin.reference_low, bilirubin.reference_high) == (pytest.approx(0.1), pytest.approx(1.2))
    assert LabObservation.objects.get(code="2160-0").value_canonical == pytest.approx(1.1 * 88.4)
    assert LifestyleRecord.objects.get().smoking_status == "former"


def test_a_dry_run_reports_every_bad_entry_and_a_real_run_saves_none(world: World) -> None:
    document = _bundle(
        _lab("1742-6", 40, "U/L"),
        _lab("1742-6", -4, "U/L"),
        _lab("1751-7", 40, "mmol/L"),
        _lab("9999-9", 1, "U/L"),
        _lab("1920-8", 30, "U/L", when=days_ago(-2)),
        {"resource": {**_lab("1742-6", 40, "U/L")["resource"], "status": "preliminary"}},
    )
    dry = _import(world, document, dry_run=True)
    assert dry.status_code == 200
    report = dry.json()
    assert report["valid"] is False and report["rows"] == 6
    assert [(e["row"], e["code"]) for e in report["errors"]] == [
        (1, "implausible_value"), (2, "unknown_unit"), (3, "unknown_analyte"), (4, "future_date"), (5, "invalid_field"),
    ]
    assert report["records"] == {"observation": 1, **NO_RECORDS}
    real = _import(world, document)
    assert real.status_code == 400
    assert real.json()["code"] == "import_invalid"
    assert real.json()["detail"]["errors"] == report["errors"]
    assert not LabObservation.objects.exists()
    outcomes = [e.outcome for e in audit_entries(object_type="patient_import")]
    assert outcomes == [AuditOutcome.SUCCESS, AuditOutcome.FAILED]


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"resourceType": "Patient"}, "invalid_fhir"),
        (_bundle(_lab("1742-6", "forty", "U/L")), "invalid_fhir"),
        ({**_bundle(), "bogus": 1}, "invalid_fhir"),
        ([1, 2], "invalid_fhir"),
    ],
)
def test_documents_that_are_not_fhir_bundles_are_refused(world: World, document: Any, code: str) -> None:
    response = _import(world, document)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_tampered_canonical_value_is_caught(world: World) -> None:
    _populate(world)
    document = copy.deepcopy(_export(world))
    _delete_records(world)
    lab = next(e["resource"] for e in document["entry"] if e["resource"]["id"].startswith("lab-"))
    lab["valueQuantity"]["value"] = lab["valueQuantity"]["value"] * 2
    report = _import(world, document, dry_run=True).json()
    assert [e["code"] for e in report["errors"]] == ["invalid_field"]


CSV = (
    "code,value,unit,observed_at,specimen,reference_low,reference_high\n"
    "1742-6,35,U/L,2024-01-02T08:00:00Z,serum,7,56\n"
    "1975-2,0.9,mg/dL,2024-01-02,,,\n"
    "6301-6,1.1,,2024-01-02,,,\n"
)


def test_csv_import_saves_every_row(world: World) -> None:
    response = _import(world, CSV, content_type="text/csv", format=None)
    assert response.status_code == 201, response.content
    assert response.json()["records"] == {"observation": 3, **NO_RECORDS}
    alt = LabObservation.objects.get(code="1742-6")
    assert (alt.value, alt.specimen, alt.reference_low, alt.reference_high, alt.source) == (35, "serum", 7, 56, "import")
    assert LabObservation.objects.get(code="1975-2").value_canonical == pytest.approx(0.9 * 17.1)


def test_csv_dry_run_reports_every_row_by_line_and_real_run_saves_none(world: World) -> None:
    text = CSV + (
        "1742-6,-2,U/L,2024-01-03,,,\n"
        "1751-7,300,g/L,2024-01-03,,,\n"
        "6301-6,0,{INR},2024-01-03,,,\n"
        f"1742-6,30,U/L,{days_ago(-5)},,,\n"
        "1742-6,30,bananas,2024-01-03,,,\n"
        "1742-6,30\n"
        "1742-6,<>5,U/L,2024-01-03,,,\n"
        "1751-7,3.5,g/L,2024-01-03,,,\n"
    )
    dry = _import(world, text, dry_run=True, content_type="text/csv", format=None)
    assert dry.status_code == 200
    errors = dry.json()["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [
        (5, "implausible_value"), (6, "implausible_value"), (7, "implausible_value"), (8, "future_date"),
        (9, "unknown_unit"), (10, "invalid_csv"), (11, "not_a_number"), (12, "unit_suspect"),
    ]
    assert errors[-1]["detail"]["suggested_units"] == ["g/dL"]
    real = _import(world, text, content_type="text/csv", format=None)
    assert real.status_code == 400 and real.json()["code"] == "import_invalid"
    assert not LabObservation.objects.exists()


def test_csv_import_keeps_censored_results_and_confirmed_units(world: World) -> None:
    text = (
        "code,value,unit,observed_at,comparator,unit_confirmed\n"
        "1834-1,<5,ng/mL,2024-01-02,,\n"
        "1742-6,2000,U/L,2024-01-02,>,\n"
        "1751-7,8,g/L,2024-01-02,,yes\n"
    )
    response = _import(world, text, content_type="text/csv", format=None)
    assert response.status_code == 201, response.content
    stored = {o.code: (o.comparator, o.value) for o in LabObservation.objects.all()}
    assert stored == {"1834-1": ("<", 5.0), "1742-6": (">", 2000.0), "1751-7": ("", 8.0)}


def test_a_censored_result_is_not_a_duplicate_of_the_exact_one(world: World) -> None:
    text = "code,value,unit,observed_at\n1834-1,<5,ng/mL,2024-01-02\n"
    assert _import(world, text, content_type="text/csv", format=None).status_code == 201
    again = _import(world, text + "1834-1,5,ng/mL,2024-01-02\n", content_type="text/csv", format=None)
    assert again.status_code == 201, again.content
    assert again.json()["duplicates"] == 1 and again.json()["records"]["observation"] == 1
    assert sorted(o.comparator for o in LabObservation.objects.all()) == ["", "<"]


def test_fhir_round_trip_keeps_the_comparator(world: World) -> None:
    LabObservation.objects.create(
        patient=world.patient, code="1834-1", comparator="<", value=5, unit="ng/mL", value_canonical=5,
        unit_canonical="ng/mL", observed_at=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
    )
    bundle = _export(world)
    (lab,) = [e["resource"] for e in bundle["entry"] if e["resource"].get("id", "").startswith("lab-")]
    assert lab["valueQuantity"]["comparator"] == "<"
    assert lab["extension"][0]["valueQuantity"]["comparator"] == "<"
    LabObservation.objects.all().delete()
    response = _import(world, bundle)
    assert response.status_code == 201, response.content
    assert LabObservation.objects.get().comparator == "<"


@pytest.mark.parametrize(
    ("text", "code"),
    [("", "invalid_csv"), ("code,value,colour\n", "invalid_csv"), ("code,unit\n1742-6,U/L\n", "invalid_csv")],
)
def test_malformed_csv_is_refused(world: World, text: str, code: str) -> None:
    response = _import(world, text, content_type="text/csv", format=None)
    assert response.status_code == 400 and response.json()["code"] == code


def test_files_can_be_uploaded_from_a_form(world: World) -> None:
    upload = SimpleUploadedFile("labs.csv", CSV.encode(), content_type="text/csv")
    response = _import(world, {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert LabObservation.objects.count() == 3
    other = SimpleUploadedFile("labs.xlsx", b"PK\x03\x04", content_type="application/octet-stream")
    refused = _import(world, {"file": other}, format="multipart")
    assert refused.status_code == 400 and refused.json()["code"] == "unsupported_import_format"


def test_imports_need_the_right_to_write(world: World) -> None:
    response = _import(world, CSV, dry_run=True, user=world.consultant, content_type="text/csv", format=None)
    assert response.status_code == 403
    assert audit_entries(outcome=AuditOutcome.DENIED)[0].actor_id == world.consultant.pk


def test_a_document_over_the_size_limit_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from patients.api import interchange

    monkeypatch.setattr(interchange, "IMPORT_MAX_BYTES", 100)
    response = _import(world, CSV, content_type="text/csv", format=None)
    assert response.status_code == 400 and response.json()["code"] == "import_too_large"
    response = _import(world, _bundle(_lab("1742-6", 40, "U/L")))
    assert response.status_code == 400 and response.json()["code"] == "import_too_large"
    assert not LabObservation.objects.exists()

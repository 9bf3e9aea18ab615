"""A signed report's DICOM SR reaches the real PACS through the real worker, even when the PACS
was down at signing; it is downloaded under the report's access rules.

The worker speaks to Orthanc through a TCP proxy the test cuts: signing then records the SR
``pending`` (the clinician's signature stands), the worker retries, and once the proxy is up the
SR is in Orthanc, in the images' study, and the report names its UIDs.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import highdicom as hd
import pydicom
import pytest
from django.conf import settings

from inference.models import Report
from inference.reports.services import report_release
from tests.conftest import World, client_for, world_build
from tests.imaging.conftest import Orthanc
from tests.inference.report_document_data import liver_report_signed, phantom_link, phantom_with_seg
from tests.integration.conftest import WorkerProcess
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tworld(transactional_db: Any) -> World:
    return world_build()


@pytest.fixture
def pacs() -> Iterator[Orthanc]:
    orthanc = Orthanc()
    try:
        yield orthanc
    finally:
        orthanc.cleanup()


def _wait_for(report: Report, predicate: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report.refresh_from_db()
        if predicate(report.sr or {}):
            return dict(report.sr)
        time.sleep(0.3)
    raise AssertionError(f"SR state never matched: {report.sr}")


def test_signed_report_sr_is_stored_after_a_pacs_outage_and_downloaded(
    tworld: World, pacs: Orthanc, tmp_path: Path,
) -> None:
    phantom, seg = phantom_with_seg(patient_id=tworld.patient.mrn)
    pacs.stow([*phantom.datasets, seg])
    phantom_link(patient=tworld.patient, phantom=phantom)
    before = pacs.instance_count(phantom.study_uid)

    upstream = urlsplit(settings.DICOMWEB_URL)
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", int(upstream.port or 80))
    worker = WorkerProcess(tmp_path / "worker.log", DICOMWEB_URL=f"http://127.0.0.1:{proxy.port}/dicom-web")
    worker.start()
    try:
        # The PACS is unreachable for the worker when the report is signed.
        report = liver_report_signed(clinician=tworld.clinician, patient=tworld.patient, phantom=phantom, seg=seg)
        assert report.status == "final" and report.signed_by_id == tworld.clinician.pk
        pending = _wait_for(report, lambda sr: sr.get("status") == "pending" and sr.get("attempts", 0) >= 1, 60)
        assert pending["documents"] == []
        clinician = client_for(tworld.clinician)
        detail = clinician.get(f"/api/v1/reports/{report.pk}/").json()
        assert detail["dicom_sr"]["status"] == "pending" and detail["status"] == "final"
        waiting = clinician.get(f"/api/v1/reports/{report.pk}/export/dcm/")
        assert waiting.status_code == 409 and waiting.json()["code"] == "report_sr_pending"

        proxy.up()
        stored = _wait_for(report, lambda sr: sr.get("status") == "stored", 90)
    finally:
        worker.stop()
        proxy.down()

    [document] = stored["documents"]
    assert document["study_uid"] == phantom.study_uid and document["groups"] == 2
    assert pacs.instance_count(phantom.study_uid) == before + 1

    # Downloaded through the API: the PACS's copy, a TID 1500 report on the same patient.
    response = client_for(tworld.clinician).get(f"/api/v1/reports/{report.pk}/export/dcm/")
    assert response.status_code == 200 and response["Content-Type"] == "application/dicom"
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(io.BytesIO(response.content)))
    assert sr.SOPInstanceUID == document["sop_instance_uid"] and sr.PatientID == tworld.patient.mrn
    content = hd.sr.MeasurementReport.from_sequence([sr])
    assert len(content.get_volumetric_roi_measurement_groups()) == 2
    detail = client_for(tworld.clinician).get(f"/api/v1/reports/{report.pk}/").json()
    assert detail["dicom_sr"]["documents"][0]["sop_instance_uid"] == document["sop_instance_uid"]

    # The patient: nothing before release (the same 404 as a missing report), the file after.
    patient = client_for(tworld.patient_user)
    hidden = patient.get(f"/api/v1/reports/{report.pk}/export/dcm/")
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    report_release(actor=tworld.clinician, report=report)
    shown = patient.get(f"/api/v1/reports/{report.pk}/export/dcm/")
    assert shown.status_code == 200 and pydicom.dcmread(io.BytesIO(shown.content)).SOPInstanceUID == document["sop_instance_uid"]

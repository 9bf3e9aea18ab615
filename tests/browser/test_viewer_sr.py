"""A signed report's DICOM SR (TID 1500) in the PACS is shown in the viewer beside the images."""

from __future__ import annotations

from typing import Any

import highdicom as hd
import pytest
from playwright.sync_api import expect
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from imaging.dicomweb.client import dicomweb_client_build
from tests.browser.data import off_loop
from tests.browser.phantom import ct_phantom, orthanc_delete_study
from tests.browser.test_viewer import _upload
from tests.conftest import world_build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _measurement_sr(evidence: list[Dataset]) -> Dataset:
    lesion = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(identifier="Liver lesion 1", uid=hd.UID()),
        measurements=[
            hd.sr.Measurement(name=codes.SCT.Volume, value=12.5, unit=hd.sr.CodedConcept("mL", "UCUM", "milliliter")),
            hd.sr.Measurement(name=codes.SCT.Length, value=31.0, unit=codes.UCUM.Millimeter),
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Signer^Jane"))),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[lesion],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_number=90, series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="CDSS tests", is_complete=True, is_verified=True,
        verifying_observer_name="Signer^Jane", verifying_organization="CDSS tests",
    )


def test_the_signed_measurement_report_is_listed_beside_the_images(open_session: Any, live: Any) -> None:
    world = off_loop(world_build)
    phantom = ct_phantom(patient_id=world.patient.mrn)
    try:
        off_loop(_upload, world, phantom)
        off_loop(lambda: dicomweb_client_build().store_instances(datasets=[_measurement_sr(phantom.datasets[:1])]))
        session = open_session(world.clinician)
        page = session.page
        session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
        expect(page.locator(".viewer-series-list [data-series]")).to_have_count(2)
        panel = page.locator("#dicom-sr")
        expect(panel).to_be_visible(timeout=30_000)
        expect(panel).to_have_attribute("data-documents", "1")
        expect(panel).to_contain_text("Imaging Measurement Report")
        expect(panel.locator(".sr-group h4")).to_have_text("Liver lesion 1")
        expect(panel).to_contain_text("12.5 mL")
        expect(panel).to_contain_text("31 mm")
        expect(panel).to_contain_text("verified")
        # The images are still the CT: the SR is a document, not a series to display.
        expect(page.locator(".viewer")).to_have_attribute("data-state", "ready")
        session.snap("viewer-dicom-sr")
    finally:
        orthanc_delete_study(phantom.study_uid)

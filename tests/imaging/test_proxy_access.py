"""Who may read what through the DICOMweb proxy: every QIDO-RS and WADO-RS route, every role.

The study is real (stored in the test Orthanc once per module); each test links it to the
``world`` patient, so the proxy's answer depends only on who asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.utils import timezone
from pydicom.uid import generate_uid
from rest_framework.authtoken.models import Token

from cdss.audit.models import AuditEvent, AuditOutcome
from imaging.models import ImagingStudy, LinkSource
from tests.access_table import ROLES
from tests.conftest import World, same_error
from tests.imaging.conftest import Orthanc, ct_dataset, proxy_fetch

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

# Reading the world patient's images: as PATIENT_READ in tests/access_table.py.
EXPECT = {
    "anonymous": 401, "clinician": 200, "other_clinician": 404, "consultant": 200,
    "patient_self": 200, "patient_other": 404, "admin": 200,
}
PACS_HOST = urlparse(settings.DICOMWEB_URL).netloc.encode()
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

ROUTES = {
    "qido-study-series": ("/studies/{study}/series", None),
    "qido-study-instances": ("/studies/{study}/instances", None),
    "qido-series-instances": ("/studies/{study}/series/{series}/instances", None),
    "study-metadata": ("/studies/{study}/metadata", None),
    "series-metadata": ("/studies/{study}/series/{series}/metadata", None),
    "instance-metadata": ("/studies/{study}/series/{series}/instances/{sop}/metadata", None),
    "study": ("/studies/{study}", 'multipart/related; type="application/dicom"'),
    "series": ("/studies/{study}/series/{series}", 'multipart/related; type="application/dicom"'),
    "instance": ("/studies/{study}/series/{series}/instances/{sop}", 'multipart/related; type="application/dicom"'),
    "frames": ("/studies/{study}/series/{series}/instances/{sop}/frames/1", FRAME_ACCEPT),
    "instance-rendered": ("/studies/{study}/series/{series}/instances/{sop}/rendered", "image/jpeg"),
    "frames-rendered": ("/studies/{study}/series/{series}/instances/{sop}/frames/1/rendered", "image/jpeg"),
    "series-rendered": ("/studies/{study}/series/{series}/rendered", "image/jpeg"),
    # Orthanc 1.10 has no thumbnails: the proxy makes them from /rendered (thumbnails.py).
    "study-thumbnail": ("/studies/{study}/thumbnail", "image/jpeg"),
    "series-thumbnail": ("/studies/{study}/series/{series}/thumbnail", "image/jpeg"),
    "instance-thumbnail": ("/studies/{study}/series/{series}/instances/{sop}/thumbnail", "image/jpeg"),
    "bulk": ("/studies/{study}/series/{series}/instances/{sop}/bulk/7fe00010", None),
}


class ProxyStudy:
    def __init__(self) -> None:
        self.study, self.series = generate_uid(), generate_uid()
        self.datasets = [
            ct_dataset(study=self.study, series=self.series, patient_id="PROXY-ACCESS", instance_number=n + 1, rows=32, columns=32)
            for n in range(2)
        ]
        self.sop = str(self.datasets[0].SOPInstanceUID)

    def path(self, route: str) -> str:
        return "/dicomweb" + ROUTES[route][0].format(study=self.study, series=self.series, sop=self.sop)

    def link(self, world: World) -> ImagingStudy:
        return ImagingStudy.objects.create(
            patient=world.patient, study_instance_uid=self.study, link_source=LinkSource.UPLOAD,
            dicom_patient_id="PROXY-ACCESS", mismatch_confirmed=True,
        )


@pytest.fixture(scope="module")
def proxy_study() -> Iterator[ProxyStudy]:
    pacs = Orthanc()
    study = ProxyStudy()
    pacs.stow(study.datasets)
    try:
        yield study
    finally:
        pacs.cleanup()


CASES = [(route, role) for route in ROUTES for role in ROLES]


@pytest.mark.parametrize(("route", "role"), CASES, ids=[f"{r}-{role}" for r, role in CASES])
def test_route_access(world: World, proxy_study: ProxyStudy, route: str, role: str) -> None:
    linked = proxy_study.link(world)
    accept = ROUTES[route][1]
    user = world.users()[role]
    answer = proxy_fetch(user, proxy_study.path(route), headers={"Accept": accept} if accept else None)
    assert answer.status == EXPECT[role], answer.body[:300]
    entries = AuditEvent.objects.filter(object_type="imaging_study", patient_id=world.patient.pk)
    if answer.status == 200:
        assert answer.body
        assert answer.headers["Cache-Control"] == "no-store, private"
        assert PACS_HOST not in answer.body  # no absolute PACS URL leaks
        entry = entries.get(outcome=AuditOutcome.SUCCESS)
        assert user is not None and entry.action == "read" and entry.object_id == str(linked.pk)
        assert entry.actor_id == user.pk and entry.detail == {"route": route}
    elif answer.status == 404:
        # "not yours" looks exactly like "no such study", and the attempt is in the trail.
        missing = proxy_fetch(user, proxy_study.path(route).replace(proxy_study.study, generate_uid()))
        assert missing.status == 404 and same_error(missing.json(), answer.json())
        denied = entries.get(outcome=AuditOutcome.DENIED)
        assert user is not None and denied.actor_id == user.pk and denied.object_id == str(linked.pk)
    else:
        assert answer.headers.get("WWW-Authenticate") == "Token"
        assert not entries.exists()


def test_content_through_the_proxy(world: World, proxy_study: ProxyStudy) -> None:
    proxy_study.link(world)
    metadata = proxy_fetch(world.clinician, proxy_study.path("series-metadata")).json()
    assert {item["00080018"]["Value"][0] for item in metadata} == {str(d.SOPInstanceUID) for d in proxy_study.datasets}
    bulk = next(item["7FE00010"]["BulkDataURI"] for item in metadata if item["00080018"]["Value"][0] == proxy_study.sop)
    assert bulk.startswith("http://testserver/dicomweb/studies/")
    assert proxy_fetch(world.clinician, bulk.removeprefix("http://testserver")).status == 200
    frame = proxy_fetch(world.clinician, proxy_study.path("frames"), headers={"Accept": FRAME_ACCEPT})
    assert frame.headers["Content-Type"].startswith("multipart/related")
    assert proxy_study.datasets[0].PixelData in frame.body
    series = proxy_fetch(world.clinician, proxy_study.path("qido-study-series")).json()
    assert [s["0020000E"]["Value"][0] for s in series] == [proxy_study.series]
    assert series[0]["00081190"]["Value"][0] == f"http://testserver/dicomweb/studies/{proxy_study.study}/series/{proxy_study.series}"


def test_token_authentication(world: World, proxy_study: ProxyStudy, settings: Any) -> None:
    settings.DICOMWEB_PROXY_ACCESS_CACHE_S = 0  # every request checked against the database
    proxy_study.link(world)
    token = Token.objects.create(user=world.clinician)
    path = proxy_study.path("series-metadata")
    assert proxy_fetch(None, path, headers={"Authorization": f"Token {token.key}"}).status == 200
    assert proxy_fetch(None, path, headers={"Authorization": "Token not-a-token"}).status == 401
    assert proxy_fetch(None, path, headers={"Authorization": "Basic Y2RzczpzZWNyZXQ="}).status == 401
    world.clinician.is_active = False
    world.clinician.save()
    assert proxy_fetch(None, path, headers={"Authorization": f"Token {token.key}"}).status == 401


def test_series_of_another_study_is_not_reachable(world: World, proxy_study: ProxyStudy, orthanc: Orthanc) -> None:
    """A permitted study in the path does not open a series of another study."""
    proxy_study.link(world)
    other_study, other_series = generate_uid(), generate_uid()
    other = ct_dataset(study=other_study, series=other_series, patient_id="SOMEONE-ELSE")
    orthanc.stow([other])
    base = f"/dicomweb/studies/{proxy_study.study}/series/{other_series}"
    for path in (f"{base}/metadata", f"{base}/instances", f"{base}/instances/{other.SOPInstanceUID}/frames/1",
                 f"/dicomweb/studies/{proxy_study.study}/series/{proxy_study.series}/instances/{other.SOPInstanceUID}/metadata"):
        answer = proxy_fetch(world.clinician, path)
        assert answer.status in (400, 404) or (answer.status == 200 and answer.json() == []), path
        assert str(other.SOPInstanceUID).encode() not in answer.body


def test_revoked_access_ends(world: World, proxy_study: ProxyStudy) -> None:
    """Closing the consultation ends the consultant's access (within the decision cache's life)."""
    proxy_study.link(world)
    path = proxy_study.path("series-metadata")
    assert proxy_fetch(world.consultant, path).status == 200
    world.consultant.share_grants.update(revoked_at=timezone.now())
    from imaging.dicomweb.proxy import ACCESS_CACHE

    ACCESS_CACHE.clear()  # as when DICOMWEB_PROXY_ACCESS_CACHE_S has passed
    assert proxy_fetch(world.consultant, path).status == 404


def test_decisions_are_remembered_briefly(world: World, proxy_study: ProxyStudy) -> None:
    """A viewer's repeated frame requests cost one access check, and each is still audited."""
    proxy_study.link(world)
    token = Token.objects.create(user=world.clinician)
    headers = {"Authorization": f"Token {token.key}", "Accept": FRAME_ACCEPT}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert proxy_fetch(None, proxy_study.path("frames"), headers=headers).status == 200
    with CaptureQueriesContext(connection) as queries:
        assert proxy_fetch(None, proxy_study.path("frames"), headers=headers).status == 200
    assert not [q for q in queries.captured_queries if "SELECT" in q["sql"] and "imaging_imagingstudy" in q["sql"]]
    assert AuditEvent.objects.filter(object_type="imaging_study", actor_id=world.clinician.pk, detail__route="frames").count() == 2


QIDO_EXPECT = {
    "clinician": {"own"}, "other_clinician": {"other"}, "consultant": {"own"}, "patient_self": {"own"},
    "patient_other": {"other"}, "admin": {"own", "other"},
}


def test_qido_studies_is_scoped(world: World, orthanc: Orthanc) -> None:
    """A wildcard query lists only the studies of patients the user may see; never unlinked ones."""
    uids = {name: generate_uid() for name in ("own", "other", "unlinked")}
    orthanc.stow([ct_dataset(study=uid, series=generate_uid(), patient_id=f"QIDO-{name}") for name, uid in uids.items()])
    ImagingStudy.objects.create(patient=world.patient, study_instance_uid=uids["own"], link_source=LinkSource.SYNC)
    ImagingStudy.objects.create(patient=world.other_patient, study_instance_uid=uids["other"], link_source=LinkSource.SYNC)
    ours = set(uids.values())
    for role, expected in QIDO_EXPECT.items():
        for query in ("", "?PatientID=*", "?PatientID=QIDO-*&limit=50", f"?StudyInstanceUID={uids['other']},{uids['own']}"):
            answer = proxy_fetch(world.users()[role], f"/dicomweb/studies{query}")
            assert answer.status == 200, answer.body[:200]
            listed = {item["0020000D"]["Value"][0] for item in answer.json()} & ours
            wanted = {uids[name] for name in expected}
            # Orthanc 1.10 matches no study for a PatientID wildcard at the study level; what
            # matters is that nothing outside the user's set is ever listed.
            assert (listed == wanted if "PatientID" not in query else listed <= wanted), (role, query)
    assert proxy_fetch(None, "/dicomweb/studies?PatientID=*").status == 401
    audited = AuditEvent.objects.filter(object_type="imaging_study", actor_id=world.clinician.pk, detail__route="qido-studies")
    assert set(audited.values_list("patient_id", flat=True)) == {world.patient.pk}


def test_qido_limit_and_offset_apply_to_the_scoped_list(world: World, orthanc: Orthanc) -> None:
    uids = sorted(generate_uid() for _ in range(3))
    orthanc.stow([ct_dataset(study=uid, series=generate_uid(), patient_id=world.patient.mrn) for uid in uids])
    for uid in uids:
        ImagingStudy.objects.create(patient=world.patient, study_instance_uid=uid, link_source=LinkSource.SYNC)
    first = proxy_fetch(world.clinician, "/dicomweb/studies?limit=2").json()
    rest = proxy_fetch(world.clinician, "/dicomweb/studies?limit=2&offset=2").json()
    assert len(first) == 2 and len(rest) == 1
    assert {i["0020000D"]["Value"][0] for i in first + rest} == set(uids)

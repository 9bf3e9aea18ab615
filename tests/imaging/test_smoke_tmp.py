import pytest
from tests.conftest import World
from tests.imaging.conftest import Orthanc, proxy_fetch, study_store

pytestmark = pytest.mark.integration

def test_smoke(world: World, orthanc: Orthanc) -> None:
    s = study_store(orthanc, world.patient)
    r = proxy_fetch(world.clinician, "/dicomweb/studies")
    print(r.status, r.headers, r.body[:500])
    r = proxy_fetch(world.clinician, f"/dicomweb/studies/{s.study_uid}/series/{s.series_uid}/metadata")
    print(r.status, r.headers, r.body[:300])
    r = proxy_fetch(world.clinician, f"/dicomweb/studies/{s.study_uid}/series/{s.series_uid}/instances/{s.sop_uids[0]}/frames/1")
    print(r.status, r.headers, len(r.body))
    r = proxy_fetch(world.other_clinician, f"/dicomweb/studies/{s.study_uid}/series/{s.series_uid}/metadata")
    print(r.status, r.body)
    r = proxy_fetch(None, f"/dicomweb/studies")
    print(r.status, r.body)
    r = proxy_fetch(world.clinician, f"/dicomweb/tools/execute-script", method="post", data="x", content_type="text/plain")
    print(r.status, r.body)
    assert 0

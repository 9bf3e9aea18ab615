"""The DICOMweb proxy's routes: QIDO-RS and WADO-RS only, UIDs of strict syntax.

Anything else under /dicomweb/ (Orthanc's own REST API such as /tools/execute-script,
/instances, /patients, /system; STOW-RS; path tricks) matches the catch-all and answers 404
(or 405/413/415 for what it carries) without ever reaching the PACS.
"""

from django.urls import URLPattern, URLResolver, path, re_path, register_converter

from imaging.dicomweb.proxy import dicomweb_not_found, dicomweb_proxy
from imaging.uids import BulkPathConverter, FrameListConverter, UidConverter

register_converter(UidConverter, "uid")
register_converter(FrameListConverter, "frames")
register_converter(BulkPathConverter, "bulkpath")

STUDY = "studies/<uid:study>"
SERIES = f"{STUDY}/series/<uid:series>"
INSTANCE = f"{SERIES}/instances/<uid:instance>"

_ROUTES = [
    ("studies", "qido-studies"),
    (STUDY, "study"),
    (f"{STUDY}/metadata", "study-metadata"),
    (f"{STUDY}/rendered", "study-rendered"),
    (f"{STUDY}/thumbnail", "study-thumbnail"),
    (f"{STUDY}/series", "qido-study-series"),
    (f"{STUDY}/instances", "qido-study-instances"),
    (SERIES, "series"),
    (f"{SERIES}/metadata", "series-metadata"),
    (f"{SERIES}/rendered", "series-rendered"),
    (f"{SERIES}/thumbnail", "series-thumbnail"),
    (f"{SERIES}/instances", "qido-series-instances"),
    (INSTANCE, "instance"),
    (f"{INSTANCE}/metadata", "instance-metadata"),
    (f"{INSTANCE}/rendered", "instance-rendered"),
    (f"{INSTANCE}/thumbnail", "instance-thumbnail"),
    (f"{INSTANCE}/frames/<frames:frames>", "frames"),
    (f"{INSTANCE}/frames/<frames:frames>/rendered", "frames-rendered"),
    (f"{INSTANCE}/bulk/<bulkpath:tag_path>", "bulk"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path(route, dicomweb_proxy, {"route": name}, name=f"dicomweb-{name}") for route, name in _ROUTES
]
urlpatterns.append(re_path(r"^(?P<rest>.*)$", dicomweb_not_found, name="dicomweb-not-found"))

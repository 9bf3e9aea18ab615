"""Click-to-measure a lung nodule in the viewer: ``POST imaging/series/<uid>/nodule-measure``.

The series is read from the PACS (only when the user may see its study), the nodule under the
click is segmented by the ``lung_nodule_ct`` model's own region growing, and its outline and
measurements come back. Nothing is stored: a measurement enters the record when the clinician
adds it (``patients/<id>/lung-nodules/``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.reads import read_audit_note
from cdss.core.errors import ServiceUnavailable, ValidationFailed
from inference.analysis.errors import TransientStepError
from inference.analysis.series_fetch import series_fetch
from inference.selectors import series_get_for_clinical_use


class NoduleMeasureInvalid(ValidationFailed):
    code = "nodule_measure_invalid"


class NoduleMeasureSerializer(serializers.Serializer[Any]):
    sop_instance_uid = serializers.CharField(max_length=64, required=False)
    row = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    column = serializers.IntegerField(min_value=0, max_value=10_000, required=False)
    point_lps_mm = serializers.ListField(child=serializers.FloatField(min_value=-5000, max_value=5000),
                                         min_length=3, max_length=3, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        pixel = all(k in attrs for k in ("sop_instance_uid", "row", "column"))
        if pixel == ("point_lps_mm" in attrs):
            raise serializers.ValidationError("give either sop_instance_uid, row and column, or point_lps_mm")
        return attrs


class SeriesNoduleMeasureApi(APIView):
    # Reads the series and stores nothing: audited as a read of it.
    audit_object_type = "imaging_series"
    audit_read_methods = ("POST",)
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="imaging_series_nodule_measure", request=NoduleMeasureSerializer,
                   responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, series_uid: str) -> Response:
        series, study = series_get_for_clinical_use(request.user, series_uid, request=request, route="nodule-measure")
        body = NoduleMeasureSerializer(data=request.data)
        if not body.is_valid():
            raise NoduleMeasureInvalid("Give the clicked image and pixel, or a point in patient coordinates.",
                                       detail={"errors": body.errors})
        if series.modality and series.modality != "CT":
            raise NoduleMeasureInvalid("Nodules are measured on CT.", code="modality_not_ct",
                                       detail={"modality": series.modality})
        try:
            fetched = series_fetch(study_uid=study.study_instance_uid, series_uid=series_uid)
        except TransientStepError as exc:
            raise ServiceUnavailable("The PACS did not answer.", code="pacs_unavailable") from exc
        # The model runtime (with its SEG and NIfTI writers, nibabel) loads at the first
        # measurement, never at web start-up (tests/core/test_web_process_imports.py).
        from inference.runtime.lung_nodule import nodule_measure_in_series

        data = body.validated_data
        result = nodule_measure_in_series(
            fetched.datasets, sop_instance_uid=data.get("sop_instance_uid"), row=data.get("row"),
            column=data.get("column"), point_lps_mm=data.get("point_lps_mm"),
        )
        read_audit_note(object_id=series.pk, route="nodule-measure")
        return Response(result)

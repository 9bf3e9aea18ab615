from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.core.ids import query_int
from inference.risk.patient_scores import patient_scores_evaluate
from inference.risk.scores.registry import scores_evaluate
from patients.access import patient_get_for_user

# A century: any longer window reaches before the first stored result and overflows dates.
WINDOW_DAYS_MAX = 36500


class ScoresEvaluateApi(APIView):
    """Compute validated scores from the inputs given; nothing is stored."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, operation_id="scores_evaluate")
    def post(self, request: Request) -> Response:
        return Response(scores_evaluate(request.data))


class PatientScoresApi(APIView):
    """Scores from the stored record: the latest value of each input within the window."""

    audit_object_type = "patient_scores"
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("window_days", int), OpenApiParameter("scores", str, description="comma-separated ids")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        window = query_int(request.query_params, "window_days", low=1, high=WINDOW_DAYS_MAX)
        wanted = [s for s in request.query_params.get("scores", "").split(",") if s]
        kwargs: dict[str, Any] = {"score_ids": wanted or None}
        if window is not None:
            kwargs["window_days"] = window
        result = patient_scores_evaluate(patient=patient, **kwargs)
        return Response(result)

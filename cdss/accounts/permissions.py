from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from cdss.accounts.models import Role


class IsAdminRole(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.role == Role.ADMIN)


class ClinicalCreateOrReadOnly(BasePermission):
    """For collection endpoints: everyone reads (scoped); only clinicians and admins create.

    Object endpoints check visibility first (404) and then the right to change (403) through
    ``patients.access.patient_get_for_edit``, so they only need authentication here.
    """

    message = "Only clinicians may change clinical records."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return request.user.role in (Role.CLINICIAN, Role.ADMIN)

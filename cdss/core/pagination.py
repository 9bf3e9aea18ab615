"""Page-number pagination that refuses a malformed ``page`` or ``page_size`` (400).

DRF reads an empty or negative ``page_size`` as "the default" and an empty ``page`` as page 1,
so a request that says something impossible got an answer to another question.
"""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination

from cdss.core.errors import ValidationFailed


def _positive(params: Any, name: str, high: int) -> int | None:
    if name not in params:
        return None
    text = str(params.get(name, "")).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or not 1 <= int(text) <= high:
        raise ValidationFailed(
            f"{name}: must be a whole number from 1 to {high}.", code="invalid_page",
            detail={name: [f"A whole number from 1 to {high}."]},
        )
    return int(text)


class StrictPageNumberPagination(PageNumberPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        _positive(request.query_params, self.page_query_param, 10**9)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Any) -> int | None:
        if self.page_size_query_param:
            size = _positive(request.query_params, self.page_size_query_param, self.max_page_size or 10**6)
            if size is not None:
                return size
        return self.page_size

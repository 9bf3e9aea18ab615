"""Django's ASGI handler, with its two pre-middleware error answers given the JSON error body.

Django answers a request it cannot even build (a path that is not UTF-8, a body over the
size limit) before any middleware runs, with an HTML or plain-text body; those are the only
error answers ``ErrorBodyMiddleware`` never sees.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import HttpResponseBase

from cdss.core.http_errors import error_response
from cdss.core.server_tuning import RequestThreadReuse


class CdssASGIHandler(RequestThreadReuse, ASGIHandler):
    def create_request(self, scope: Any, body_file: Any) -> tuple[ASGIRequest, None] | tuple[None, HttpResponseBase]:
        built = super().create_request(scope, body_file)
        response = built[1]
        if response is None:
            return built
        if response.status_code == 413:
            return None, error_response(None, 413, "request_too_large", "The request body is too large.")
        return None, error_response(None, 400, "bad_request", "The request URL or headers are not valid.")

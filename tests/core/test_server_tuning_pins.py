"""The Daphne and Twisted internals ``cdss.core.server_tuning`` patches, pinned by behaviour.

``server_tuning`` wraps ``daphne.http_protocol.HTTPFactory.buildProtocol`` and
``WebRequest.__init__`` and sets Twisted's private ``Request._parsePOSTFormSubmission``.
Daphne and Twisted are pinned in constraints.txt; these tests state what the patches assume of
them, so that a release that moves any of it fails here rather than silently undoing the fix.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.internet.address import IPv4Address
from twisted.web import http
from twisted.web.test.requesthelper import DummyChannel

from cdss.core.server_tuning import daphne_form_parsing_disable

_BOUNDARY = b"pin"
_MULTIPART = b'--pin\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--pin--\r\n'


def _channel() -> Any:
    return DummyChannel()


def _multipart_post(request: http.Request) -> dict[bytes, list[bytes]]:
    request.requestHeaders.setRawHeaders(b"content-type", [b"multipart/form-data; boundary=" + _BOUNDARY])
    request.requestHeaders.setRawHeaders(b"content-length", [str(len(_MULTIPART)).encode()])
    request.gotLength(len(_MULTIPART))
    request.handleContentChunk(_MULTIPART)
    request.requestReceived(b"POST", b"/upload", b"HTTP/1.1")
    return request.args


def test_twisted_parses_multipart_unless_the_private_flag_is_off() -> None:
    assert _multipart_post(http.Request(_channel())) == {b"a": [b"1"]}  # the default the patch undoes
    request = http.Request(_channel())
    request._parsePOSTFormSubmission = False
    assert _multipart_post(request) == {}


def test_the_flag_is_what_twisteds_constructor_sets() -> None:
    """The patch sets the attribute after ``Request.__init__``; it must be the constructor's own
    argument, stored per instance, or the constructor would overwrite or ignore it."""
    assert "parsePOSTFormSubmission" in inspect.signature(http.Request.__init__).parameters
    assert http.Request(_channel(), parsePOSTFormSubmission=False)._parsePOSTFormSubmission is False


def test_daphne_requests_built_after_the_patch_leave_forms_alone() -> None:
    assert issubclass(WebRequest, http.Request)
    daphne_form_parsing_disable()
    channel = _channel()
    channel.factory = SimpleNamespace(server=SimpleNamespace(protocol_connected=lambda request: None))
    request = WebRequest(channel)
    assert request._parsePOSTFormSubmission is False


def test_daphne_builds_its_protocol_in_build_protocol() -> None:
    """The TCP_NODELAY patch wraps ``HTTPFactory.buildProtocol`` and the returned protocol's
    ``makeConnection`` (the call Twisted hands the transport to)."""
    assert "buildProtocol" in vars(HTTPFactory)
    protocol = HTTPFactory(server=None).buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    assert callable(protocol.makeConnection)
    assert protocol.requestFactory is WebRequest


def test_the_patched_servers_are_pinned() -> None:
    pins = Path(__file__).resolve().parents[2].joinpath("constraints.txt").read_text()
    for package in ("daphne", "Twisted"):
        assert re.search(rf"^{package}==\S+$", pins, re.MULTILINE), package

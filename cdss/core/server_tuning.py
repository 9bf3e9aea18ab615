"""Socket options Daphne leaves unset.

Daphne (Twisted) never sets TCP_NODELAY. A response it writes in pieces (headers, then body)
then meets Nagle's algorithm on the server and delayed acknowledgements on the client: the
second piece waits for an ACK that the client holds back for up to 40 ms. That added about
40 ms to most API answers and WebSocket events. Installed when ``cdss.asgi`` is imported,
which Daphne does before it accepts connections; other ASGI servers (uvicorn) set the option
themselves and are unaffected.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)
_INSTALLED_FLAG = "_cdss_tcp_nodelay"


def daphne_tcp_nodelay_install() -> bool:
    """Make every connection Daphne accepts send small writes at once. Idempotent."""
    try:
        from daphne.http_protocol import HTTPFactory
    except ImportError:  # not running under Daphne's code base at all
        return False
    if getattr(HTTPFactory, _INSTALLED_FLAG, False):
        return True
    build = HTTPFactory.buildProtocol

    def build_protocol(self: Any, addr: Any) -> Any:
        protocol = build(self, addr)
        # Wrap makeConnection, the call that hands over the transport: Twisted's HTTP channel
        # is itself wrapped in a protocol that forwards to it, so connectionMade of the
        # object returned here is never the one called.
        make = protocol.makeConnection

        def make_connection(transport: Any) -> None:
            if hasattr(transport, "setTcpNoDelay"):
                transport.setTcpNoDelay(True)
            make(transport)

        protocol.makeConnection = make_connection
        return protocol

    HTTPFactory.buildProtocol = build_protocol
    setattr(HTTPFactory, _INSTALLED_FLAG, True)
    return True


def daphne_form_parsing_disable() -> bool:
    """Twisted parses a multipart/form-data POST body itself (into ``request.args``, which
    Daphne never reads) before handing the request on: an upload was read into memory whole
    once more, and a body it could not parse was answered with a bare 400 (no body, no
    Content-Type, no request id) that Django never saw. Django parses the body itself."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server
        return False
    if getattr(WebRequest, "_cdss_no_form_parsing", False):
        return True
    original = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Twisted's Request sets this per instance (its parsePOSTFormSubmission argument).
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._cdss_no_form_parsing = True
    return True

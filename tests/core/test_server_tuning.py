"""Daphne's accepted connections send small writes at once (TCP_NODELAY)."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from cdss.core.server_tuning import daphne_form_parsing_disable, daphne_tcp_nodelay_install


class _RecordingTransport(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.no_delay: bool | None = None

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled


def test_connections_get_tcp_nodelay() -> None:
    from daphne.http_protocol import HTTPFactory

    import cdss.asgi  # noqa: F401  (importing the ASGI app installs it, as Daphne does)

    assert daphne_tcp_nodelay_install()  # idempotent
    factory: Any = HTTPFactory(server=None)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    transport = _RecordingTransport()
    protocol.makeConnection(transport)
    assert transport.no_delay is True
    protocol.connectionLost(None)


def test_twisted_leaves_form_bodies_to_django() -> None:
    """The live check is the schemathesis run (an unparsable multipart body gets Django's JSON 400)."""
    from daphne.http_protocol import WebRequest

    assert daphne_form_parsing_disable()
    assert daphne_form_parsing_disable()  # idempotent: one wrapper, not two
    assert WebRequest._cdss_no_form_parsing is True
    assert WebRequest.__init__.__qualname__.endswith("daphne_form_parsing_disable.<locals>.__init__")

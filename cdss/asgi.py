"""ASGI entry point: HTTP to Django, WebSockets through session auth and Origin validation."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.dev")
django.setup(set_prefix=False)

from cdss.core.asgi_handler import CdssASGIHandler  # noqa: E402  (needs Django set up first)

django_asgi_app = CdssASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from cdss.core.server_tuning import daphne_form_parsing_disable, daphne_tcp_nodelay_install  # noqa: E402
from cdss.core.websocket import SameOriginValidator  # noqa: E402
from cdss.routing import websocket_urlpatterns  # noqa: E402
from imaging.dicomweb.asgi import DicomwebFastLane  # noqa: E402
from interop.smart.sockets import EhrContextSocketGuard  # noqa: E402

daphne_tcp_nodelay_install()
daphne_form_parsing_disable()

application = ProtocolTypeRouter(
    {
        # Repeated WADO-RS reads of a study Django has just authorised skip Django's request
        # cycle (still audited); everything else goes to Django unchanged.
        "http": DicomwebFastLane(django_asgi_app),
        # The Origin must be this site (scheme, host and port): a page on another site, or on
        # another port of the same host, cannot open a socket on the clinician's session cookie.
        # A session opened by a SMART launch subscribes to the launched patient only.
        "websocket": SameOriginValidator(AuthMiddlewareStack(EhrContextSocketGuard(URLRouter(websocket_urlpatterns)))),
    }
)

"""ASGI entry point: HTTP to Django, WebSockets through session auth and Origin validation."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdss.settings.dev")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from cdss.core.server_tuning import daphne_tcp_nodelay_install  # noqa: E402
from cdss.routing import websocket_urlpatterns  # noqa: E402
from imaging.dicomweb.asgi import DicomwebFastLane  # noqa: E402

daphne_tcp_nodelay_install()

application = ProtocolTypeRouter(
    {
        # Repeated WADO-RS reads of a study Django has just authorised skip Django's request
        # cycle (still audited); everything else goes to Django unchanged. Django's handler is
        # typed more narrowly than the plain ASGI callable the lane takes.
        "http": DicomwebFastLane(django_asgi_app),  # type: ignore[arg-type]
        # The Origin header must name an allowed host: a page on another site cannot open a
        # socket that rides on the clinician's session cookie.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

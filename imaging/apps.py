from django.apps import AppConfig


class ImagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "imaging"

    def ready(self) -> None:
        # In ready(): registrations run once every app and its models are loaded (app registry).
        from imaging.dicomweb.proxy import deid_relay_install
        from imaging.dicomweb.proxy_deid import deid_forward

        # The share relay builds on the proxy, so the proxy is handed it here.
        deid_relay_install(deid_forward)

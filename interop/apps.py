from django.apps import AppConfig


class InteropConfig(AppConfig):
    """CDS Hooks, SMART App Launch and the read-only FHIR API: the topmost layer, which may use
    every other app and which none of them imports."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "interop"

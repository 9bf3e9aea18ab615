from django.apps import AppConfig


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdss.core"
    label = "core"

    def ready(self) -> None:
        # In ready(): registrations run once every app and its models are loaded (app registry).
        from cdss.core import checks  # noqa: F401  (registers the system checks)

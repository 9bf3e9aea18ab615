from django.apps import AppConfig


class CoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdss.core"
    label = "core"

    def ready(self) -> None:
        from cdss.core import checks  # noqa: F401  (registers the system checks)

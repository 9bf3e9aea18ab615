from django.apps import AppConfig


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdss.audit"
    label = "audit"

    def ready(self) -> None:
        # In ready(): registrations run once every app and its models are loaded (app registry).
        from cdss.audit import receivers  # noqa: F401  (login audit receivers)

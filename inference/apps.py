from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"

    def ready(self) -> None:
        from inference import checks  # noqa: F401  (registers the model registry checks)
        from inference.reports import tasks  # noqa: F401  (Celery discovers only inference.tasks)

from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"

    def ready(self) -> None:
        # In ready(): registrations run once every app and its models are loaded (app registry).
        from inference import checks  # noqa: F401  (registers the model registry checks)
        from inference.analysis.steps import report_content_recompute
        from inference.findings.services import report_content_recompute_install
        from inference.reports import tasks  # noqa: F401  (Celery discovers only inference.tasks)

        # Decisions on findings make a new draft fused by the analysis workflow, which sits
        # above the findings module: the workflow's recomputation is handed in here.
        report_content_recompute_install(report_content_recompute)

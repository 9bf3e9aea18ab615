from django.apps import AppConfig


class ConsultationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "consultations"
    label = "consultations"

    def ready(self) -> None:
        # In ready(): registrations run once every app and its models are loaded (app registry).
        # A report made after an opinion was signed carries it (inference never imports us).
        from consultations.services import signed_opinions_for_reports
        from inference.reports.opinions import second_opinion_source_register

        second_opinion_source_register(signed_opinions_for_reports)

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cdss.accounts"
    label = "accounts"

    def ready(self) -> None:
        from cdss.accounts import schema, signals  # noqa: F401  (OpenAPI auth schemes, token revocation)

from django.contrib import admin

from interop.models import EhrRegistration, EhrUserLink, FhirApiToken


@admin.register(EhrRegistration)
class EhrRegistrationAdmin(admin.ModelAdmin):
    list_display = ("name", "iss", "client_id", "active")


@admin.register(EhrUserLink)
class EhrUserLinkAdmin(admin.ModelAdmin):
    list_display = ("registration", "fhir_user", "user")


@admin.register(FhirApiToken)
class FhirApiTokenAdmin(admin.ModelAdmin):
    list_display = ("label", "user", "scope", "patient", "expires_at", "revoked_at")
    readonly_fields = ("token_sha256",)

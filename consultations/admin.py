from django.contrib import admin

from consultations.models import Consultation


@admin.register(Consultation)
class ConsultationAdmin(admin.ModelAdmin):
    list_display = ("id", "patient_id", "consultant", "status", "identifiable", "opened_at", "closed_at")
    list_filter = ("status",)

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from cdss.accounts.models import CareTeam, User


@admin.register(User)
class CdssUserAdmin(UserAdmin):
    list_display = ("username", "role", "is_active", "locked_until", "last_login")
    list_filter = ("role", "is_active")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Role and lock-out", {"fields": ("role", "failed_login_count", "locked_until")}))


@admin.register(CareTeam)
class CareTeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    filter_horizontal = ("members",)

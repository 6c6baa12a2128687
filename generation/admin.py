from django.contrib import admin

from core.admin_mixins import ReadOnlyAdmin
from generation.models import RenderJob, RenderOutput


@admin.register(RenderJob)
class RenderJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "attempt", "progress_step", "progress_total", "outcome_code", "created_at")
    list_filter = ("status",)


@admin.register(RenderOutput)
class RenderOutputAdmin(ReadOnlyAdmin):
    list_display = ("id", "job", "sha256", "size_bytes", "created_at")

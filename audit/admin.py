from django.contrib import admin

from audit.models import AuditEvent
from core.admin_mixins import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "occurred_at", "action", "actor", "subject")
    list_filter = ("action",)
    search_fields = ("subject", "actor")

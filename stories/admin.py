from django.contrib import admin

from core.admin_mixins import ReadOnlyAdmin
from stories.models import Story, StoryRole


@admin.register(Story)
class StoryAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "organization", "status", "created_at", "published_at")
    list_filter = ("status",)


@admin.register(StoryRole)
class StoryRoleAdmin(ReadOnlyAdmin):
    list_display = ("id", "story", "name", "kind", "license")
    list_filter = ("kind",)

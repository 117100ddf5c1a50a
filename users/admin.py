"""The Django admin for users, with presence columns and a bulk 'mark offline' action."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from users.models import User
from users.services.simple_online_status import mark_users_offline


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "online_status", "last_seen")
    list_filter = ("online_status", "is_staff", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    readonly_fields = ("online_status", "last_seen", "last_login", "date_joined")
    actions = ["mark_selected_offline"]

    @admin.action(description="Mark selected users offline")
    def mark_selected_offline(self, request, queryset):
        marked = mark_users_offline(queryset.values("pk"), reason="admin")
        self.message_user(request, f"Marked {marked} user(s) offline.")

"""The Django admin for users: presence columns, 'mark offline' and 'deactivate' actions; users are never deleted here.

As in the API, an account is deactivated, never deleted: the presence feed sends the rows that
changed, so a deleted row would need a tombstone for clients to drop it, and deletion would also
take the user's sessions and token records with it. Edits go through the account services, which
write only the edited columns and move the row in the change sequence so the feed sends them.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import ValidationError

from users.models import User
from users.services.accounts import (
    SelfDeactivation,
    activate_user,
    deactivate_user,
    ensure_may_deactivate,
    update_user_account,
)
from users.services.simple_online_status import mark_users_offline

ACCOUNT_COLUMNS = {field.name for field in User._meta.concrete_fields} - {"password"}


class PasswordOnlyChangeForm(AdminPasswordChangeForm):
    """The admin's password form, writing only the password column."""

    def save(self, commit=True):
        # The stock form calls save() on the whole row, loaded when the page was posted: it would
        # write back presence columns and change positions older than a heartbeat that landed meanwhile.
        user = super().save(commit=False)
        if commit:
            user.save(update_fields=["password"])
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    # Five columns fit beside the filter sidebar at 1280 px; names are one click away.
    list_display = ("username", "email", "online_status", "last_seen", "is_staff")
    list_filter = ("online_status", "is_staff", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    readonly_fields = ("online_status", "last_seen", "last_login", "date_joined")
    actions = ["mark_selected_offline", "deactivate_selected"]
    change_password_form = PasswordOnlyChangeForm

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None or "is_active" not in form.base_fields:
            return form

        class AccountForm(form):
            """Unticking "active" is refused where the API refuses a deactivation (one's own account)."""

            def clean_is_active(self):
                if not self.cleaned_data["is_active"]:
                    try:
                        ensure_may_deactivate(request.user.pk, obj.pk)
                    except SelfDeactivation as refused:
                        raise ValidationError(str(refused), code="self_deactivation") from refused
                return self.cleaned_data["is_active"]

        return AccountForm

    def save_model(self, request, obj, form, change):
        if not change:
            # A new row: its change positions come from the column default, so the feed sends it.
            super().save_model(request, obj, form, change)
            return
        # Columns only: save_related() writes groups and permissions; the password has its own form.
        edited = [name for name in form.changed_data if name in ACCOUNT_COLUMNS]
        fields = {name: getattr(obj, name) for name in edited if name != "is_active"}
        update_user_account(obj, **fields)
        if "is_active" in edited:
            # The same services as the API's activate/deactivate: deactivation also ends every session.
            if obj.is_active:
                activate_user(obj.pk)
            else:
                deactivate_user(obj.pk, actor_id=request.user.pk)

    @admin.action(description="Mark selected users offline")
    def mark_selected_offline(self, request, queryset):
        marked = mark_users_offline(queryset.values("pk"), reason="admin")
        self.message_user(request, f"Marked {marked} user(s) offline.")

    @admin.action(description="Deactivate selected users")
    def deactivate_selected(self, request, queryset):
        deactivated = 0
        for user_id in queryset.filter(is_active=True).values_list("pk", flat=True):
            try:
                deactivate_user(user_id, actor_id=request.user.pk)
            except SelfDeactivation:
                continue  # the acting admin stays; the others are deactivated
            deactivated += 1
        self.message_user(request, f"Deactivated {deactivated} user(s).")

"""Account state changes made by staff: deactivation takes the user offline in the same step."""
from django.db import transaction

from users.models import User
from users.services.simple_online_status import mark_user_offline


def deactivate_user(user_id: int) -> None:
    """Deactivate an account; its tokens stop authenticating and it goes offline at once."""
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(is_active=False)
        mark_user_offline(user_id, reason="deactivated")


def activate_user(user_id: int) -> None:
    """Reactivate an account; it stays offline until the user logs in."""
    User.objects.filter(pk=user_id).update(is_active=True)

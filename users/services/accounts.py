"""Account state changes made by staff: deactivation ends every session and takes the user offline in the same step."""
from django.db import transaction

from users.models import PresenceSession, User
from users.services.simple_online_status import end_all_presence_sessions


def deactivate_user(user_id: int) -> None:
    """Deactivate an account; its tokens stop authenticating and it goes offline at once."""
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(is_active=False)
        end_all_presence_sessions(user_id, reason=PresenceSession.EndReason.DEACTIVATED)


def activate_user(user_id: int) -> None:
    """Reactivate an account; it stays offline until the user logs in."""
    User.objects.filter(pk=user_id).update(is_active=True)

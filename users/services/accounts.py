"""Account changes made by staff: deactivation ends every session at once; edits never touch presence."""
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


def update_user_account(user: User, *, password: str | None = None, **fields) -> User:
    """Change account fields (never presence); only the named columns are written."""
    # A full save() would write back the presence columns loaded at the start of the request,
    # undoing any heartbeat, logout or sweep that committed meanwhile.
    for name, value in fields.items():
        setattr(user, name, value)
    columns = list(fields)
    if password:
        user.set_password(password)
        columns.append("password")
    if columns:
        user.save(update_fields=columns)
    return user

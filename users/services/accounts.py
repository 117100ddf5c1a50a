"""Account changes made by staff; each one the presence feed shows gives the row a new change position."""

from django.db import transaction

from users.models import PresenceSession, User
from users.presence.sequence import account_positions
from users.presence.session_writes import end_all_presence_sessions


class SelfDeactivation(ValueError):
    """Staff cannot deactivate their own account (the API, the admin's form and its action alike)."""

    message = "You cannot deactivate your own account."


def ensure_may_deactivate(actor_id: int | None, user_id: int) -> None:
    """SelfDeactivation if the acting admin would deactivate themselves."""
    if actor_id == user_id:
        raise SelfDeactivation(SelfDeactivation.message)


def deactivate_user(user_id: int, *, actor_id: int | None = None) -> None:
    """Deactivate an account (for staff `actor_id`, if any); its tokens stop authenticating and it goes offline at once."""
    ensure_may_deactivate(actor_id, user_id)
    with transaction.atomic():
        # Sessions first, then the user row (the presence writes' lock order): the other order
        # deadlocked with a heartbeat holding a session and waiting for the row. A login racing this
        # waits on the row and then finds it inactive (tests/races/test_deactivation_vs_heartbeat.py).
        end_all_presence_sessions(user_id, reason=PresenceSession.EndReason.DEACTIVATED)
        User.objects.filter(pk=user_id).update(is_active=False, **account_positions(["is_active"]))


def activate_user(user_id: int) -> None:
    """Reactivate an account; it stays offline until the user logs in."""
    User.objects.filter(pk=user_id).update(is_active=True, **account_positions(["is_active"]))


def update_user_account(user: User, *, password: str | None = None, **fields) -> User:
    """Change account fields (never presence); only the named columns and the change positions are written."""
    # A full save() would write back the presence columns loaded at the start of the request,
    # undoing any heartbeat, logout or sweep that committed meanwhile.
    for name, value in fields.items():
        setattr(user, name, value)
    columns = list(fields)
    if password:
        user.set_password(password)
        columns.append("password")
    positions = account_positions(columns)
    for name, position in positions.items():
        setattr(user, name, position)
    if columns:
        user.save(update_fields=columns + list(positions))
    if positions:
        user.refresh_from_db(fields=list(positions))  # the numbers, in place of the SQL that wrote them
    return user

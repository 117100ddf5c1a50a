"""Account changes made by staff: each one that the presence feed shows moves the row in the change sequence."""
from collections.abc import Iterable

from django.db import transaction
from django.db.models.expressions import RawSQL

from users.models import PresenceSession, User
from users.services.presence_cursor import change_position
from users.services.presence_selectors import PUBLIC_FIELDS, STAFF_FIELDS
from users.services.simple_online_status import end_all_presence_sessions


def account_positions(columns: Iterable[str]) -> dict[str, RawSQL]:
    """SET clauses giving the row a new change position for the feed's viewers who can see one of `columns`."""
    # Names are in every feed entry; email, is_staff and is_active only in staff's. A password or
    # a superuser flag is in none, so changing them moves nothing and the feed stays quiet.
    columns = set(columns)
    position = change_position()
    if columns & set(PUBLIC_FIELDS):
        return {"presence_change": position, "visible_change": position}
    if columns & set(STAFF_FIELDS):
        return {"presence_change": position}
    return {}


def deactivate_user(user_id: int) -> None:
    """Deactivate an account; its tokens stop authenticating and it goes offline at once."""
    with transaction.atomic():
        # Sessions first, then the user row (the presence writes' lock order): flagging the row first
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

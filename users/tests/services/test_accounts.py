"""Account changes by staff never undo a presence write that landed meanwhile, and move the feed's change positions."""

import pytest

from users.models import User
from users.services.accounts import activate_user, deactivate_user, update_user_account
from users.services.simple_online_status import mark_user_online

pytestmark = pytest.mark.django_db


def test_an_account_edit_keeps_a_heartbeat_that_landed_after_the_row_was_loaded(user):
    loaded = User.objects.get(pk=user.pk)  # what the admin view fetched: offline, never seen
    mark_user_online(user.pk)  # a heartbeat commits while the edit is in flight

    update_user_account(loaded, first_name="Alicia")

    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.online_status) == ("Alicia", "online")
    assert stored.last_seen is not None


def test_a_password_change_writes_the_new_hash_and_leaves_presence_alone(user):
    loaded = User.objects.get(pk=user.pk)
    mark_user_online(user.pk)

    update_user_account(loaded, password="New-secret-2048")

    stored = User.objects.get(pk=user.pk)
    assert stored.check_password("New-secret-2048")
    assert stored.online_status == "online"


def positions(user) -> tuple[int, int]:
    stored = User.objects.get(pk=user.pk)
    return stored.presence_change, stored.visible_change


@pytest.mark.django_db(
    transaction=True
)  # on PostgreSQL a position is the writing transaction: each write needs its own
@pytest.mark.parametrize(
    "change, staff_sees, everyone_sees",
    [
        ({"first_name": "Alicia"}, True, True),
        ({"username": "alicia"}, True, True),
        ({"email": "alicia@example.com"}, True, False),
        ({"is_staff": True}, True, False),
        ({"password": "New-secret-2048"}, False, False),
        ({"is_superuser": True}, False, False),
    ],
)
def test_an_edit_moves_the_positions_of_the_viewers_who_see_the_edited_field(user, change, staff_sees, everyone_sees):
    """Names are in every feed entry, email and is_staff only in staff's, a password or superuser flag in none."""
    before = positions(user)

    updated = update_user_account(User.objects.get(pk=user.pk), **change)

    after = positions(user)
    assert (after[0] > before[0], after[1] > before[1]) == (staff_sees, everyone_sees)
    assert (updated.presence_change, updated.visible_change) == after  # numbers, not the SQL that wrote them


@pytest.mark.django_db(transaction=True)
def test_activation_and_deactivation_move_staffs_position_only(user):
    before = positions(user)
    deactivate_user(user.pk)
    deactivated = positions(user)
    activate_user(user.pk)

    assert deactivated[0] > before[0] and positions(user)[0] > deactivated[0]
    assert positions(user)[1] == before[1]

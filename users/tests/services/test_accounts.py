"""Account changes by staff never undo a presence write that landed meanwhile."""
import pytest

from users.models import User
from users.services.accounts import update_user_account
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

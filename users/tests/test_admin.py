"""The Django admin for users: presence columns, filter, search, actions, no deletion, edits that never write presence."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from users.models import User
from users.tests.expectations import users_updates

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/users/user/"


@pytest.fixture
def admin_client(client, make_user):
    """A browser session of a superuser in the Django admin."""
    client.force_login(make_user(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def people(make_user, set_presence):
    """alice and bob online a minute ago, carol offline since yesterday."""
    now = timezone.now().replace(microsecond=0)
    alice = make_user(username="alice", email="alice@example.org")
    bob = make_user(username="bob", email="bob@corp.test")
    carol = make_user(username="carol", email="carol@example.org")
    set_presence(alice, online_status="online", last_seen=now - timedelta(minutes=1))
    set_presence(bob, online_status="online", last_seen=now - timedelta(minutes=1))
    set_presence(carol, online_status="offline", last_seen=now - timedelta(days=1))
    return {"alice": alice, "bob": bob, "carol": carol, "now": now}


def listed_usernames(response) -> set[str]:
    return {user.username for user in response.context["cl"].result_list}


def test_the_user_list_shows_status_and_last_seen_columns(admin_client, people):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "column-online_status" in html and "column-last_seen" in html
    assert listed_usernames(response) == {"root", "alice", "bob", "carol"}


def test_the_status_filter_lists_only_users_stored_online(admin_client, people):
    response = admin_client.get(CHANGELIST, {"online_status__exact": "online"})

    assert listed_usernames(response) == {"alice", "bob"}


@pytest.mark.parametrize("query, expected", [("bob", {"bob"}), ("example.org", {"alice", "carol"})])
def test_search_finds_users_by_username_and_email(admin_client, people, query, expected):
    response = admin_client.get(CHANGELIST, {"q": query})

    assert listed_usernames(response) == expected


def test_mark_selected_users_offline_changes_only_the_selected_online_users(admin_client, people, row):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    response = admin_client.post(
        CHANGELIST,
        {"action": "mark_selected_offline", "_selected_action": [alice.pk, carol.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Marked 1 user(s) offline." in [str(message) for message in response.context["messages"]]
    assert (row(alice).online_status, row(alice).last_seen) == ("offline", people["now"] - timedelta(minutes=1))
    assert (row(carol).online_status, row(carol).last_seen) == ("offline", people["now"] - timedelta(days=1))
    assert row(bob).online_status == "online"  # not selected


# --- no deletion; deactivation, edits and passwords through the account services ----


def action_choices(response) -> set[str]:
    return {name for name, _ in response.context["action_form"].fields["action"].choices if name}


def updates_of(user, captured) -> list[str]:
    """The UPDATEs of this user's row (the admin's own request also touches the admin's row)."""
    return [sql for sql in users_updates(captured) if sql.endswith(f'WHERE "users"."id" = {user.pk}')]


def set_clause(update: str) -> str:
    return update.split(" SET ", 1)[1].rsplit(" WHERE ", 1)[0]


def test_users_cannot_be_deleted_in_the_admin(admin_client, people):
    """As in the API, accounts are deactivated, never deleted: no delete view, no delete action."""
    alice = people["alice"]

    assert admin_client.get(f"{CHANGELIST}{alice.pk}/delete/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{alice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert action_choices(admin_client.get(CHANGELIST)) == {"mark_selected_offline", "deactivate_selected"}
    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [alice.pk], "post": "yes"})
    assert User.objects.filter(pk=alice.pk).exists()


def test_deactivate_selected_ends_their_sessions_and_skips_the_acting_admin(admin_client, make_user, device, row):
    dave = make_user(username="dave")
    dave_device = device(dave)
    root = User.objects.get(username="root")

    response = admin_client.post(
        CHANGELIST, {"action": "deactivate_selected", "_selected_action": [dave.pk, root.pk]}, follow=True
    )

    assert "Deactivated 1 user(s)." in [str(message) for message in response.context["messages"]]
    assert (row(dave).is_active, row(dave).online_status) == (False, "offline")
    assert row(root).is_active is True
    assert dave_device.post("/api/users/heartbeat/", format="json").status_code == 401


def test_the_change_form_writes_only_the_edited_columns(admin_client, people, capture_queries, row):
    """Presence columns are never written back from the loaded form: a heartbeat landing meanwhile would be undone."""
    alice = people["alice"]
    form = {"username": "alice", "email": alice.email, "first_name": "Alicia", "last_name": "", "is_active": "on"}

    with capture_queries() as captured:
        response = admin_client.post(f"{CHANGELIST}{alice.pk}/change/", form)

    assert response.status_code == 302, response.content
    (update,) = updates_of(alice, captured)
    assert set(re.findall(r'"(\w+)" = ', set_clause(update))) == {"first_name", "presence_change", "visible_change"}
    assert (row(alice).first_name, row(alice).online_status) == ("Alicia", "online")


def test_the_password_form_writes_only_the_password(admin_client, people, capture_queries, row):
    alice = people["alice"]
    form = {"usable_password": "true", "password1": "Brand-new-4096", "password2": "Brand-new-4096"}

    with capture_queries() as captured:
        response = admin_client.post(f"{CHANGELIST}{alice.pk}/password/", form)

    assert response.status_code == 302, response.content
    (update,) = updates_of(alice, captured)
    assert re.fullmatch(r'"password" = \S+', set_clause(update)), update
    assert row(alice).check_password("Brand-new-4096") and row(alice).online_status == "online"


def test_an_admin_cannot_untick_their_own_active_box(admin_client, make_user, device, row):
    """As in the API and the deactivate action: locking oneself out (and ending one's own sessions) is refused."""
    root = User.objects.get(username="root")
    root_device = device(root)
    form = {
        "username": "root",
        "email": root.email,
        "first_name": "",
        "last_name": "",
        "is_staff": "on",
        "is_superuser": "on",
    }

    response = admin_client.post(f"{CHANGELIST}{root.pk}/change/", form)

    assert response.status_code == 200  # the form again, with the error
    assert "You cannot deactivate your own account." in response.content.decode()
    assert (row(root).is_active, row(root).online_status) == (True, "online")
    assert root_device.post("/api/users/heartbeat/", format="json").status_code == 200

    # Another admin's account can still be deactivated from its form.
    dave = make_user(username="dave", is_staff=True)
    response = admin_client.post(
        f"{CHANGELIST}{dave.pk}/change/",
        {"username": "dave", "email": dave.email, "first_name": "", "last_name": "", "is_staff": "on"},
    )
    assert response.status_code == 302, response.content
    assert row(dave).is_active is False

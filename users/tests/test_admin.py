"""The Django admin's user list: presence columns, the status filter, search, and the 'mark offline' action."""
from datetime import timedelta

import pytest
from django.utils import timezone

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

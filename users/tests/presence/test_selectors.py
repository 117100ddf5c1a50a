"""The socket's entries (users/presence/selectors.py): the very entries the HTTP feed answers, as JSON text."""

import json
from datetime import timedelta

import pytest
from rest_framework.renderers import JSONRenderer

from users.models import User
from users.presence import clock, selectors
from users.presence.scope import EVERYONE
from users.presence.sequence import Cursor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def directory(make_user):
    """Users in every state a viewer can tell apart: online, away, invisible, offline, deactivated, odd names."""
    at = clock.now()
    people = {
        "online": make_user(username="on", first_name='Zoë "Q"', last_name="\\slash"),
        "away": make_user(username="away", email="a@example.com"),
        "hidden": make_user(username="hidden"),
        "offline": make_user(username="off", is_active=False),
        "staff": make_user(username="boss", is_staff=True),
    }
    User.objects.filter(pk=people["online"].pk).update(online_status="online", last_seen=at, last_active=at)
    User.objects.filter(pk=people["away"].pk).update(online_status="away", last_seen=at, last_active=None)
    User.objects.filter(pk=people["hidden"].pk).update(
        online_status="online", last_seen=at, last_active=at, invisible_since=at - timedelta(microseconds=1500)
    )
    return people


def parsed(entries) -> list[dict]:
    """Socket entries as a client reads them; each one's id must be the one it is paired with."""
    assert all(json.loads(text)["id"] == user_id for user_id, text in entries)
    return [json.loads(text) for _, text in entries]


def as_http(rows) -> list[dict]:
    """The feed's rows as its JSON answer has them."""
    return json.loads(JSONRenderer().render(rows))


@pytest.mark.parametrize("staff", [True, False], ids=["staff", "others"])
def test_socket_entries_are_the_feeds_entries(directory, staff):
    viewer = User(is_staff=staff)
    since = Cursor(clock.now() - timedelta(hours=1), 0)

    _, rows = selectors.presence_changes(viewer, since)
    _, entries = selectors.presence_changes(viewer, since, as_text=True)
    _, full, answered = selectors.presence_for_sockets(viewer, [(None, EVERYONE)])

    assert full == [True]
    assert parsed(entries) == parsed(answered) == as_http(rows)
    assert len(entries) == User.objects.count()


def test_a_socket_ask_of_a_list_reads_just_those_and_an_empty_read_asks_nothing(directory, django_assert_num_queries):
    viewer = User(is_staff=False)
    wanted = frozenset({directory["away"].pk, directory["hidden"].pk, 10**9})

    _, _, entries = selectors.presence_for_sockets(viewer, [(None, wanted)])

    assert [user_id for user_id, _ in entries] == sorted(wanted - {10**9})
    assert json.loads(dict(entries)[directory["hidden"].pk])["online_status"] == "offline"
    with django_assert_num_queries(1):  # the horizon only: no user can be asked for
        assert selectors.presence_for_sockets(viewer, [(None, frozenset())])[2] == []

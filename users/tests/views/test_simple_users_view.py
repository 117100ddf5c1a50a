"""GET /api/users/all-users/ (users/views/simple_users_view.py)."""

from datetime import datetime

import pytest

from users.models import User
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db

ALL_USERS = "/api/users/all-users/"
PUBLIC_KEYS = {"id", "username", "first_name", "last_name", "online_status", "last_seen"}
STAFF_KEYS = PUBLIC_KEYS | {"email", "is_staff", "is_active", "invisible"}


@pytest.fixture
def alice(clock, user, client_for):
    """Alice, logged in (an ordinary user) at clock time."""
    return client_for(user)


@pytest.fixture
def boss(clock, staff, client_for):
    """Boss, logged in (staff) at clock time."""
    return client_for(staff)


@pytest.fixture
def people(make_user, clock, set_presence, settings):
    """Four users around a 120 s timeout: fresh online, stale online (not yet swept), never seen online, offline."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    fresh, stale, unseen, offline = (make_user(username=n) for n in ("fresh", "stale", "unseen", "offline"))
    set_presence(fresh, online_status="online", last_seen=clock.ago(119))
    set_presence(stale, online_status="online", last_seen=clock.ago(121))
    set_presence(unseen, online_status="online", last_seen=None)
    set_presence(offline, online_status="offline", last_seen=clock.ago(10))
    return {"fresh": fresh, "stale": stale, "unseen": unseen, "offline": offline}


def by_name(body: list[dict]) -> dict[str, dict]:
    return {entry["username"]: entry for entry in body}


def test_all_users_is_an_array_of_public_fields_for_ordinary_users(alice, user, make_user):
    """Each entry has exactly id, username, first_name, last_name, online_status, last_seen; ordered by id."""
    make_user(username="bob", first_name="Bob")

    response = alice.get(ALL_USERS)

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert [entry["username"] for entry in body] == ["alice", "bob"]
    assert all(set(entry) == PUBLIC_KEYS for entry in body)
    assert body[0] == {
        "id": user.pk,
        "username": "alice",
        "first_name": "Alice",
        "last_name": "Archer",
        "online_status": "online",
        "last_seen": iso(User.objects.get(pk=user.pk).last_seen),
    }
    assert body[1]["online_status"] == "offline" and body[1]["last_seen"] is None


def test_ordinary_users_never_see_emails(alice, make_user):
    """No email address appears anywhere in a non-staff response."""
    make_user(username="bob", email="bob-secret@example.com")

    response = alice.get(ALL_USERS)

    assert b"@example.com" not in response.content
    assert all("email" not in entry for entry in response.json())


def test_staff_also_get_email_is_staff_and_is_active(boss, user, staff):
    """Staff callers see the account fields too, and whether a user is invisible."""
    body = by_name(boss.get(ALL_USERS).json())

    assert all(set(entry) == STAFF_KEYS for entry in body.values())
    assert (body["alice"]["email"], body["alice"]["is_staff"], body["alice"]["is_active"]) == (
        "alice@example.com",
        False,
        True,
    )
    assert body["boss"]["is_staff"] is True


def test_all_users_is_never_cached(alice):
    """Cache-Control carries no-store, so no proxy or browser serves a stale list."""
    response = alice.get(ALL_USERS)

    assert "no-store" in response["Cache-Control"]


def test_all_users_is_fresh_from_the_database(alice, user, make_user, clock, set_presence):
    """A change made between two calls shows in the second."""
    bob = make_user(username="bob")
    assert by_name(alice.get(ALL_USERS).json())["bob"]["online_status"] == "offline"

    set_presence(bob, online_status="online", last_seen=clock.current)

    entry = by_name(alice.get(ALL_USERS).json())["bob"]
    assert (entry["online_status"], entry["last_seen"]) == ("online", iso(clock.current))


def test_times_are_iso_8601_utc(alice, user):
    """last_seen parses as an ISO 8601 time in UTC equal to the stored value."""
    entry = by_name(alice.get(ALL_USERS).json())["alice"]

    assert entry["last_seen"].endswith("Z")
    assert datetime.fromisoformat(entry["last_seen"]) == User.objects.get(pk=user.pk).last_seen


def test_stale_online_users_read_offline_before_any_sweep(alice, people):
    """Effective status: stored 'online' with last_seen older than the timeout (or none) reads offline."""
    body = by_name(alice.get(ALL_USERS).json())

    assert body["fresh"]["online_status"] == "online"
    assert body["stale"]["online_status"] == "offline"
    assert body["unseen"]["online_status"] == "offline"
    assert body["offline"]["online_status"] == "offline"
    # Reading did not sweep: the rows still say online.
    assert User.objects.get(pk=people["stale"].pk).online_status == "online"


def test_effective_status_follows_the_timeout_setting(alice, people, settings):
    """With a longer PRESENCE_TIMEOUT_SECONDS the same row reads online again."""
    settings.PRESENCE_TIMEOUT_SECONDS = 300

    assert by_name(alice.get(ALL_USERS).json())["stale"]["online_status"] == "online"


def test_status_online_filters_by_effective_status(alice, people):
    """?status=online returns only users who are effectively online."""
    response = alice.get(ALL_USERS, {"status": "online"})

    assert response.status_code == 200
    assert sorted(entry["username"] for entry in response.json()) == ["alice", "fresh"]


def test_status_offline_filters_by_effective_status(alice, people):
    """?status=offline includes stale users that the sweep has not reached yet."""
    response = alice.get(ALL_USERS, {"status": "offline"})

    assert sorted(entry["username"] for entry in response.json()) == ["offline", "stale", "unseen"]


@pytest.mark.parametrize("status", ["bogus", "ONLINE", "1"])
def test_an_unknown_status_filter_is_a_json_400(alice, status, users_table):
    """?status=bogus: 400 naming the status parameter, no row changed."""
    before = users_table()

    body = assert_json_error(alice.get(ALL_USERS, {"status": status}), 400, "invalid")

    assert "status" in body["errors"]
    assert users_table() == before


def test_all_users_requires_authentication(api):
    assert_json_error(api.get(ALL_USERS), 401, "not_authenticated")


@pytest.mark.parametrize("crowd_size", [5, 200])
def test_all_users_is_two_queries_whatever_the_number_of_users(alice, crowd, clock, capture_queries, crowd_size):
    """Load the caller, then one SELECT for the list, with 5 or 200 users."""
    crowd(crowd_size, online_status="online", last_seen=clock.current)

    with capture_queries() as captured:
        response = alice.get(ALL_USERS)

    assert len(response.json()) == crowd_size + 1
    assert len(captured.captured_queries) == 2, captured.captured_queries


def test_an_empty_status_filter_is_a_400(client_for, staff):
    from users.tests.expectations import assert_json_error

    assert_json_error(client_for(staff).get("/api/users/all-users/?status="), 400)


@pytest.mark.parametrize("form", ["weak", "star", "list"])
def test_if_none_match_compares_weakly_and_takes_star_and_lists(client_for, staff, form):
    client = client_for(staff)
    etag = client.get("/api/users/all-users/")["ETag"]
    header = {"weak": f"W/{etag}", "star": "*", "list": f'"other", W/{etag}'}[form]
    assert client.get("/api/users/all-users/", HTTP_IF_NONE_MATCH=header).status_code == 304

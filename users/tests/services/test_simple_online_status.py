"""The presence services (users/services/simple_online_status.py), called directly."""

import pytest

from users.services import simple_online_status as presence
from users.tests.expectations import users_updates

pytestmark = pytest.mark.django_db


@pytest.fixture
def settings_120(settings):
    """The default timeout and touch interval, pinned so the arithmetic below is explicit."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    settings.PRESENCE_TOUCH_SECONDS = 15
    return settings


def one_update(capture_queries, call):
    """Run call() and check it issued exactly one statement, an UPDATE of `users`; return its result."""
    with capture_queries() as captured:
        result = call()
    assert len(captured.captured_queries) == 1, captured.captured_queries
    assert len(users_updates(captured)) == 1, captured.captured_queries
    return result


def sweep_statements(capture_queries):
    """Run the sweep and check its two set-based statements: move lapsed users, delete sessions past retention."""
    with capture_queries() as captured:
        result = presence.check_and_mark_offline_users()
    assert [" ".join(q["sql"].split()[:3]) for q in captured.captured_queries] == [
        'UPDATE "users" SET',
        'DELETE FROM "presence_sessions"',
    ], captured.captured_queries
    return result


# --- mark_user_online ----------------------------------------------------------


def test_mark_user_online_sets_online_and_last_seen_now(user, clock, row, capture_queries):
    """One UPDATE; returns the time written; the row is online at that time."""
    written = one_update(capture_queries, lambda: presence.mark_user_online(user.pk))

    assert written == clock.current
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("online", clock.current)


def test_mark_user_online_skips_inactive_users(make_user, row):
    """A deactivated account never goes online; returns None."""
    dormant = make_user(is_active=False)

    assert presence.mark_user_online(dormant.pk) is None
    assert (row(dormant).online_status, row(dormant).last_seen) == ("offline", None)


def test_mark_user_online_of_an_unknown_id_returns_none():
    assert presence.mark_user_online(999999) is None


# --- mark_user_offline ---------------------------------------------------------


def test_mark_user_offline_sets_offline_and_last_seen_now(user, clock, row, set_presence, capture_queries):
    """One UPDATE; returns the time written; the row is offline at that time."""
    set_presence(user, online_status="online", last_seen=clock.ago(5))

    written = one_update(capture_queries, lambda: presence.mark_user_offline(user.pk))

    assert written == clock.current
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("offline", clock.current)


def test_mark_user_offline_of_an_unknown_id_returns_none():
    assert presence.mark_user_offline(999999) is None


# --- mark_users_offline --------------------------------------------------------


def test_mark_users_offline_marks_the_online_ones_in_one_update_and_keeps_last_seen(
    make_user, clock, row, set_presence, capture_queries
):
    """Only the given users who are online change; their last activity time is not rewritten."""
    on1, on2, off, bystander = (make_user() for _ in range(4))
    for online in (on1, on2, bystander):
        set_presence(online, online_status="online", last_seen=clock.ago(5))
    set_presence(off, online_status="offline", last_seen=clock.ago(3600))

    marked = one_update(capture_queries, lambda: presence.mark_users_offline([on1.pk, on2.pk, off.pk], reason="admin"))

    assert marked == 2
    assert [(row(u).online_status, row(u).last_seen) for u in (on1, on2, off, bystander)] == [
        ("offline", clock.ago(5)),
        ("offline", clock.ago(5)),
        ("offline", clock.ago(3600)),
        ("online", clock.ago(5)),
    ]


def test_mark_users_offline_takes_a_queryset_of_ids_as_one_statement(
    make_user, clock, set_presence, row, capture_queries
):
    from users.models import User

    users = [make_user(username=f"sel{i}") for i in range(3)]
    for user in users:
        set_presence(user, online_status="online", last_seen=clock.ago(1))

    selection = User.objects.filter(username__startswith="sel").values("pk")
    assert one_update(capture_queries, lambda: presence.mark_users_offline(selection, reason="admin")) == 3
    assert {row(u).online_status for u in users} == {"offline"}


# --- update_user_last_seen -----------------------------------------------------


@pytest.mark.parametrize("status", ["online", "offline"])
def test_update_user_last_seen_refreshes_a_stale_time_and_keeps_the_status(
    user, clock, row, set_presence, settings_120, capture_queries, status
):
    """last_seen older than PRESENCE_TOUCH_SECONDS is rewritten; online_status is never changed."""
    set_presence(user, online_status=status, last_seen=clock.ago(16))

    written = one_update(capture_queries, lambda: presence.update_user_last_seen(user.pk))

    assert written == clock.current
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == (status, clock.current)


def test_update_user_last_seen_writes_when_never_seen(user, clock, row):
    """A null last_seen is always stale; the user stays offline."""
    assert presence.update_user_last_seen(user.pk) == clock.current
    assert (row(user).online_status, row(user).last_seen) == ("offline", clock.current)


def test_update_user_last_seen_skips_a_fresh_time(user, clock, row, set_presence, settings_120):
    """Within PRESENCE_TOUCH_SECONDS nothing is written and it returns None."""
    set_presence(user, online_status="online", last_seen=clock.ago(14))

    assert presence.update_user_last_seen(user.pk) is None
    assert row(user).last_seen == clock.ago(14)


def test_update_user_last_seen_never_moves_time_backwards(user, clock, row, set_presence):
    """A stored time ahead of this caller's clock (a faster writer) is kept."""
    set_presence(user, last_seen=clock.current)
    clock.advance(-60)

    assert presence.update_user_last_seen(user.pk) is None
    assert row(user).last_seen == clock.ago(-60)


def test_update_user_last_seen_follows_the_touch_setting(user, clock, row, set_presence, settings):
    """With PRESENCE_TOUCH_SECONDS = 60, a 30 s old time is fresh; with 10 it is stale."""
    set_presence(user, last_seen=clock.ago(30))
    settings.PRESENCE_TOUCH_SECONDS = 60
    assert presence.update_user_last_seen(user.pk) is None

    settings.PRESENCE_TOUCH_SECONDS = 10
    assert presence.update_user_last_seen(user.pk) == clock.current
    assert row(user).last_seen == clock.current


# --- check_and_mark_offline_users ----------------------------------------------


@pytest.fixture
def population(make_user, clock, set_presence, settings_120):
    """Online users on both sides of the 120 s cutoff, one with no last_seen, and one already offline."""
    names = ("fresh", "edge", "stale", "unseen", "away")
    users = {name: make_user(username=name) for name in names}
    set_presence(users["fresh"], online_status="online", last_seen=clock.ago(10))
    set_presence(users["edge"], online_status="online", last_seen=clock.ago(120))  # exactly at the cutoff
    set_presence(users["stale"], online_status="online", last_seen=clock.ago(121))
    set_presence(users["unseen"], online_status="online", last_seen=None)
    set_presence(users["away"], online_status="offline", last_seen=clock.ago(3600))
    return users


def test_sweep_marks_stale_and_never_seen_online_users_offline(population, clock, row, capture_queries):
    """One UPDATE of users marks 'stale' and 'unseen' offline and returns 2; last_seen is left as it was."""
    marked = sweep_statements(capture_queries)

    assert marked == 2
    status = {name: (row(u).online_status, row(u).last_seen) for name, u in population.items()}
    assert status == {
        "fresh": ("online", clock.ago(10)),
        "edge": ("online", clock.ago(120)),
        "stale": ("offline", clock.ago(121)),
        "unseen": ("offline", None),
        "away": ("offline", clock.ago(3600)),
    }


def test_sweep_twice_is_harmless(population, row):
    """The second run finds nothing to do and changes nothing."""
    presence.check_and_mark_offline_users()
    after_first = {name: (row(u).online_status, row(u).last_seen) for name, u in population.items()}

    assert presence.check_and_mark_offline_users() == 0
    assert {name: (row(u).online_status, row(u).last_seen) for name, u in population.items()} == after_first


def test_sweep_follows_the_timeout_setting(population, clock, row, settings):
    """With PRESENCE_TIMEOUT_SECONDS = 5, the 10 s old user is swept too."""
    settings.PRESENCE_TIMEOUT_SECONDS = 5

    assert presence.check_and_mark_offline_users() == 4
    assert row(population["fresh"]).online_status == "offline"


def test_sweep_spares_a_user_whose_heartbeat_landed_first(population, clock, row):
    """A stale user who heartbeats before the sweep stays online."""
    presence.mark_user_online(population["stale"].pk)

    assert presence.check_and_mark_offline_users() == 1
    assert row(population["stale"]).online_status == "online"


@pytest.mark.parametrize("crowd_size", [5, 200])
def test_sweep_is_two_statements_whatever_the_number_of_users(crowd, clock, settings_120, capture_queries, crowd_size):
    """The same two statements (users, old sessions) sweep 5 or 200 stale users alike."""
    crowd(crowd_size, prefix="stale", online_status="online", last_seen=clock.ago(600))
    crowd(crowd_size, prefix="fresh", online_status="online", last_seen=clock.ago(1))

    marked = sweep_statements(capture_queries)

    assert marked == crowd_size

"""The presence rules (users/presence/rules.py): each rule's Python and SQL forms agree row by row."""

import itertools

import pytest
from django.db import connection

from users.models import User
from users.presence import clock as presence_clock
from users.presence.rules import (
    SETTLED_ONLINE_SQL,
    STATUSES,
    row_columns,
    row_status_expression,
    settled_online,
    status_of,
)

pytestmark = pytest.mark.django_db

# Ages in seconds of last_seen / last_active: never, fresh, fresh but not past the feed margin, stale.
AGES = (None, 0, 115, 125, 3600)


@pytest.fixture
def every_row(clock, settings):
    """One user per combination of stored status, last_seen age and last_active age."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    at = lambda age: None if age is None else clock.ago(age)  # noqa: E731
    combos = list(itertools.product(STATUSES, AGES, AGES))
    User.objects.bulk_create(
        User(username=f"row{n}", online_status=status, last_seen=at(seen), last_active=at(active))
        for n, (status, seen, active) in enumerate(combos)
    )
    return User.objects.filter(username__startswith="row")


def test_the_sql_status_is_the_python_status_for_every_kind_of_row(every_row, clock):
    by_sql = dict(every_row.annotate(status_now=row_status_expression(clock.current)).values_list("pk", "status_now"))

    for user in every_row:
        assert by_sql[user.pk] == status_of(user.online_status, user.last_seen, user.last_active, clock.current), (
            user.online_status,
            user.last_seen,
            user.last_active,
        )
    assert set(by_sql.values()) == set(STATUSES)  # the grid reaches every status


def test_settled_online_in_the_orm_and_in_hand_written_sql_select_the_same_rows(every_row, clock):
    orm = set(every_row.filter(settled_online(row_columns(), clock.current)).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT users.id FROM users WHERE users.username LIKE 'row%%' AND {SETTLED_ONLINE_SQL}",
            {"online": "online", "settled": presence_clock.settled_cutoff(clock.current)},
        )
        hand_written = {row[0] for row in cursor.fetchall()}

    assert orm == hand_written
    assert orm, "the grid holds settled rows"
    for user in every_row.filter(pk__in=orm):
        # Settled: online now and still online when the feed margin has passed.
        later = clock.current + presence_clock.FEED_MARGIN
        assert status_of(user.online_status, user.last_seen, user.last_active, later) == "online"

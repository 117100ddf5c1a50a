"""The presence rules (users/presence/rules.py): each rule's Python, ORM and SQL text forms agree row by row."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import BooleanField, CharField, DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Cast

from users.models import User
from users.presence import clock as presence_clock
from users.presence import rules, sql
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
        User(
            username=f"row{n}",
            online_status=status,
            last_seen=at(seen),
            last_active=at(active),
            invisible_since=at(30) if n % 2 else None,
        )
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


# --- Each rule's SQL text form (PostgreSQL's precompiled writes) against its ORM form ------------------
INSTANTS = (0, 7, 125)  # seconds after the grid was written: now, inside the feed margin, past the timeout


def _by_sql(every_row, expression_sql: str, at, **params) -> dict[int, object]:
    """`expression_sql` evaluated by PostgreSQL for each row of the grid, at `at`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT users.id, {expression_sql} FROM users WHERE users.id = ANY(%(ids)s)",
            {**sql.params(at), "ids": list(every_row.values_list("pk", flat=True)), **params},
        )
        return dict(cursor.fetchall())


def _by_orm(every_row, expression) -> dict[int, object]:
    annotated = every_row.annotate(value=ExpressionWrapper(expression, output_field=expression_field(expression)))
    return dict(annotated.values_list("pk", "value"))


def expression_field(expression):
    return BooleanField() if isinstance(expression, Q) else CharField()


def test_each_rule_over_one_row_reads_the_same_in_sql_text_and_in_the_orm(on_postgres, every_row, clock):
    row = rules.row_columns()
    values: dict[str, set] = {}
    for later in INSTANTS:
        at = clock.current + timedelta(seconds=later)
        pairs = {
            "settled online": (rules.settled_online(row, at), rules.settled_online_sql(rules.ROW_SQL)),
            "settled away": (rules.settled_away(row, at), rules.settled_away_sql(rules.ROW_SQL)),
            "derived status": (
                rules.derived_status_expression(F("last_seen"), F("last_active"), at),
                rules.derived_status_sql("users.last_seen", "users.last_active"),
            ),
            "hidden": (rules.HIDDEN, rules.HIDDEN_SQL),
        }
        for name, (orm, text) in pairs.items():
            by_orm, by_sql = _by_orm(every_row, orm), _by_sql(every_row, text, at)
            # SQL's NULL is "no" wherever a rule is a condition (WHERE, CASE WHEN), as False is in the ORM's.
            assert {k: v or False for k, v in by_sql.items()} == {k: v or False for k, v in by_orm.items()}, name
            values.setdefault(name, set()).update(v or False for v in by_sql.values())
    assert {name: len(seen) for name, seen in values.items()} == {
        "settled online": 2,
        "settled away": 2,
        "derived status": 3,
        "hidden": 2,
    }, "the grid reaches every outcome of every rule"


@pytest.mark.parametrize("later", INSTANTS)
def test_unchanged_for_readers_reads_the_same_in_sql_text_and_in_the_orm(on_postgres, every_row, clock, later):
    """Every stored row against every row it could be written to: a write needs a new position in both forms alike."""
    at = clock.current + timedelta(seconds=later)
    when = lambda age: None if age is None else clock.ago(age)  # noqa: E731
    new_sql = {
        "status": "%(new_status)s",
        "last_seen": "%(new_seen)s::timestamptz",
        "last_active": "%(new_active)s::timestamptz",
    }
    text = rules.unchanged_for_readers_sql(rules.ROW_SQL, new_sql)
    outcomes = set()
    for status, seen, active in itertools.product(STATUSES, AGES, AGES):
        new = {"status": status, "last_seen": when(seen), "last_active": when(active)}
        new_orm = {
            "status": Value(status),
            "last_seen": Cast(Value(new["last_seen"]), DateTimeField()),
            "last_active": Cast(Value(new["last_active"]), DateTimeField()),
        }
        by_orm = _by_orm(every_row, rules.unchanged_for_readers(rules.row_columns(), new_orm, at))
        by_sql = _by_sql(
            every_row, text, at, new_status=status, new_seen=new["last_seen"], new_active=new["last_active"]
        )
        assert {k: bool(v) for k, v in by_sql.items()} == {k: bool(v) for k, v in by_orm.items()}, new
        outcomes |= {bool(v) for v in by_orm.values()}
    assert outcomes == {True, False}

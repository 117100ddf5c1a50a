"""The User model (users/models.py): table `users`, presence columns and the sweep's index."""

import pytest
from django.core.management import call_command
from django.db import connection

from users.models import User

pytestmark = pytest.mark.django_db


def test_a_new_user_is_offline_and_never_seen(make_user):
    created = make_user()

    stored = User.objects.get(pk=created.pk)
    assert (stored.online_status, stored.last_seen) == ("offline", None)


def test_the_operators_query_works_as_written(make_user, user, login):
    """`SELECT username, online_status, last_seen FROM users WHERE username='admin';` returns the row."""
    admin = make_user(username="admin", is_staff=True)
    login(admin)

    with connection.cursor() as cursor:
        cursor.execute("SELECT username, online_status, last_seen FROM users WHERE username='admin';")
        rows = cursor.fetchall()

    assert len(rows) == 1
    username, status, last_seen = rows[0]
    assert (username, status) == ("admin", "online")
    assert last_seen is not None


def test_the_sweep_index_exists_on_last_seen_of_present_users():
    """users_online_last_seen_idx holds COALESCE(last_seen, the epoch), partial on online and away rows."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "users")
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'users_online_last_seen_idx'")
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'users_online_last_seen_idx'")
        (definition,) = cursor.fetchone()

    assert "users_online_last_seen_idx" in constraints
    indexed, _, predicate = definition.partition(" WHERE ")
    assert "COALESCE(last_seen, '1970-01-01 00:00:00" in indexed.replace('"', "")
    assert "online_status" in predicate and "'online'" in predicate and "'away'" in predicate


@pytest.mark.postgres
def test_username_has_its_unique_index_and_no_pattern_ops_twin():
    """Every non-HOT write (heartbeats, the sweep) inserts into every index; the unused LIKE twin cost the 1M sweep ~25%."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users' AND indexdef LIKE '%username%'"
        )
        indexes = dict(cursor.fetchall())

    assert list(indexes) == ["users_username_key"], indexes
    assert "UNIQUE" in indexes["users_username_key"]


def test_the_models_pass_the_system_checks_that_migrate_runs():
    """`migrate` also runs the database checks (`check --database`), e.g. that a db_default expression is allowed."""
    call_command("check", databases=["default"], fail_level="WARNING")

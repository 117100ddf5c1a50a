"""The sweep's query plan on PostgreSQL: served by the partial index, never a sequential scan of `users`."""

import pytest
from django.db import connection

from users.services.simple_online_status import check_and_mark_offline_users

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

USERS = 20_000  # 10% online, 1% stale: enough rows that a sequential scan would be the planner's choice if it could not use the index


@pytest.fixture
def population(clock, settings):
    """USERS users seeded in one INSERT … SELECT; most offline users were last seen long ago, as in production."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO users (password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined, online_status, last_seen)
            SELECT '!', false, 'plan' || i, '', '', '', false, true, %(now)s,
                   CASE WHEN i %% 10 = 0 THEN 'online' ELSE 'offline' END,
                   CASE WHEN i %% 100 = 0 THEN %(now)s - interval '1 hour'
                        WHEN i %% 10 = 0 THEN %(now)s - interval '5 seconds'
                        ELSE %(now)s - interval '1 day' END
            FROM generate_series(1, %(count)s) AS i
            """,
            {"now": clock.current, "count": USERS},
        )
        cursor.execute("ANALYZE users")


def explained_sweep() -> str:
    """Run check_and_mark_offline_users(), EXPLAINing its users UPDATE just before it runs."""
    plans = []

    def explain_first(execute, sql, params, many, context):
        # The users UPDATE only: the sweep's other statement deletes sessions past retention.
        if sql.lstrip().upper().startswith('UPDATE "USERS"'):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain_first):
        marked = check_and_mark_offline_users()
    assert marked == USERS // 100
    assert len(plans) == 1
    return plans[0]


def test_the_sweep_reads_the_partial_index_and_never_scans_users_sequentially(population):
    plan = explained_sweep()

    assert "users_online_last_seen_idx" in plan, plan
    assert "Index Cond" in plan, plan  # the staleness test is the index range, not a filter over every online row
    assert "Seq Scan on users" not in plan, plan

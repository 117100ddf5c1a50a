"""The bench database: its own PostgreSQL database, seeded in bulk with one precomputed password hash."""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/offchat"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SEED_PASSWORD = "bench-password-1"
# Who is who, by id: 10% online, of which a tenth (1% of all) silent for an hour.
STALE_EVERY = 100
ONLINE_EVERY = 10


def bench_database_url() -> str:
    """BENCH_DATABASE_URL, else DATABASE_URL's database with `_bench` appended: the bench truncates `users`."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    parts = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("make bench needs PostgreSQL: set DATABASE_URL=postgres://…")
    name = parts.path.lstrip("/") or "offchat"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(url: str) -> None:
    """Create the bench database if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


SEED_SQL = """
INSERT INTO users (password, last_login, is_superuser, username, first_name, last_name, email,
                   is_staff, is_active, date_joined, online_status, last_seen)
SELECT %(password)s, NULL, i = 1, 'user' || i, 'First' || i, 'Last' || i, 'user' || i || '@example.com',
       i = 1, true, now(),
       CASE WHEN i %% %(online)s = 0 THEN 'online' ELSE 'offline' END,
       CASE WHEN i %% %(stale)s = 0 THEN now() - interval '1 hour'
            WHEN i %% %(online)s = 0 THEN now() - (i %% 30) * interval '1 second'
            ELSE now() - interval '1 day' END
FROM generate_series(1, %(count)s) AS i
"""


def seed_users(count: int, password_hash: str):
    """Replace every user with `count` users in one INSERT … SELECT (user 1 is staff); returns the seeding time."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:  # one transaction: one now() for every row
        cursor.execute("TRUNCATE users RESTART IDENTITY CASCADE")
        cursor.execute(
            SEED_SQL, {"password": password_hash, "count": count, "online": ONLINE_EVERY, "stale": STALE_EVERY}
        )
        cursor.execute("SELECT now()")
        seeded_at = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE users")
    return seeded_at


def expected_stale(count: int) -> int:
    return count // STALE_EVERY


def make_stale_online_again() -> None:
    """Undo a sweep, then vacuum, so every sweep run starts from the same table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE users SET online_status = 'online' WHERE id %% %s = 0", [STALE_EVERY])
        cursor.execute("VACUUM ANALYZE users")


def users_updates() -> int:
    """Rows UPDATEd in `users` since the stats were reset (pg_stat_user_tables.n_tup_upd)."""
    with psycopg.connect(bench_database_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'users'").fetchone()[0]


def explain(sql: str, params) -> dict:
    """The plan of a statement, and whether it uses the sweep index and whether it scans `users` sequentially."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return {
        "plan": plan,
        "uses_sweep_index": "users_online_last_seen_idx" in plan,
        "seq_scan_on_users": "Seq Scan on users" in plan,
    }

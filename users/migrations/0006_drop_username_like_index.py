"""PostgreSQL: drop the `varchar_pattern_ops` twin Django adds beside the unique index on `username`.

No query uses it (logins are equality lookups, served by the unique index; the admin's search is a
case-insensitive `%…%` match, which no btree serves), yet every write that cannot be a HOT update (a
heartbeat moving a user in the sweep index, the sweep itself) inserts an entry into it.
"""
from django.db import migrations


def _like_index(schema_editor) -> str:
    return schema_editor._create_index_name("users", ["username"], suffix="_like")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_like_index(schema_editor))}")


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        name = schema_editor.quote_name(_like_index(schema_editor))
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {name} ON "users" ("username" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ("users", "0005_new_rows_get_a_change_position"),
    ]

    operations = [migrations.RunPython(drop, restore, elidable=False)]

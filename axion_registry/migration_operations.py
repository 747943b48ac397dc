"""Migration operations for big tables, safe while the old code serves."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations
from django.db.migrations.operations.base import Operation


class _ConcurrentlyOnPostgres(Operation):
    """PostgreSQL runs the concurrent operation (the class this is mixed into); any other
    database runs `plain`, the same change under its ordinary lock (SQLite has no other)."""

    plain: Any

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite)."""

    plain = migrations.AddIndex


class RemoveIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL (no lock that waits for every reader and
    blocks writes meanwhile), a plain DROP INDEX elsewhere (SQLite)."""

    plain = migrations.RemoveIndex


def column_index_names(schema_editor: Any, table: str, columns: list[str]) -> list[str]:
    """The plain (not unique, not primary key) indexes of `table` on exactly `columns`."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return [name for name, info in found.items()
            if info["index"] and not info["unique"] and not info["primary_key"]
            and info["columns"] == columns]


def drop_column_index(schema_editor: Any, table: str, column: str) -> None:
    """Drop the single-column index of `column` (a ForeignKey's db_index), CONCURRENTLY on
    PostgreSQL; the migration running it must be atomic = False."""
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    quote = schema_editor.quote_name
    for name in column_index_names(schema_editor, table, [column]):
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {quote(name)}")


def create_column_index(schema_editor: Any, table: str, column: str, name: str) -> None:
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    quote = schema_editor.quote_name
    schema_editor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {quote(name)} "
                          f"ON {quote(table)} ({quote(column)})")

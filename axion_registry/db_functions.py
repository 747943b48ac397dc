"""Database functions the ORM lacks, for each backend the project runs on."""

from __future__ import annotations

from typing import Any

from django.db.models import BigIntegerField, Func


class EpochMs(Func):
    """A datetime as whole milliseconds since the epoch, computed by the database: what
    `int(moment.timestamp() * 1000)` gives, without building a datetime per row (the
    converter was most of an MLflow search's time on SQLite)."""

    output_field = BigIntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: the whole seconds from
        # strftime over the first 19 characters (given the fraction, it rounds), the
        # milliseconds from the text; exact, as julianday's float is not.
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"(CAST(strftime('%%s', substr({sql}, 1, 19)) AS INTEGER) * 1000 + "
                f"CAST(substr({sql}, 21, 3) AS INTEGER))", [*params, *params])

    def as_postgresql(self, compiler: Any, connection: Any,
                      **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"FLOOR(EXTRACT(EPOCH FROM {sql}) * 1000)::bigint", params

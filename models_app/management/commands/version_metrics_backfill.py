from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from models_app.version_metrics import backfill


class Command(BaseCommand):
    help = ("Add the metric rows (the index of metric searches) of versions that lack them: "
            "run once after a rolling upgrade to the release that added them.")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            added = backfill(connection)
        self.stdout.write(f"added {added:,} metric rows")

"""Remove the raw metric points of runs that ended long ago, leaving their pyramid."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from experiments_app import services


class Command(BaseCommand):
    help = ("Compact the metric points of runs that ended more than --days ago (default "
            "METRIC_RETENTION_DAYS) to their pyramid: downsampled histories, latest values, "
            "best-run and comparison answers stay the same; the raw points are removed.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help="Runs that ended more than this many days ago.")
        parser.add_argument("--limit", type=int, default=None,
                            help="At most this many runs (default "
                                 "METRIC_RETENTION_RUNS_PER_PASS).")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.METRIC_RETENTION_DAYS
        limit = options["limit"] or settings.METRIC_RETENTION_RUNS_PER_PASS
        if days <= 0:
            raise CommandError("Give --days N (N >= 1) or set METRIC_RETENTION_DAYS; "
                               "0 means raw points are kept.")
        done = services.metrics_compact(finished_before=timezone.now() - timedelta(days=days),
                                        limit=limit)
        self.stdout.write(f"Compacted {len(done.run_ids)} run(s), removed "
                          f"{done.points_removed} raw point(s).")

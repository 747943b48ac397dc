"""Build the metric pyramid of points logged before it existed (run once after upgrading)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from experiments_app import services
from experiments_app.models import Run


class Command(BaseCommand):
    help = ("Rebuild the metric pyramid of every run (or of --run-id) whose raw points it "
            "does not count exactly. Each run is locked while its keys are rebuilt.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run-id", action="append", default=[],
                            help="Only this run (repeatable).")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = Run.objects.filter(metrics_compacted_at__isnull=True).order_by("pk")
        if options["run_id"]:
            runs = runs.filter(run_id__in=options["run_id"])
        rebuilt = 0
        for run_pk, run_id in runs.values_list("pk", "run_id").iterator():
            keys = services.run_pyramid_build(run_pk=run_pk)
            if keys:
                rebuilt += 1
                self.stdout.write(f"{run_id}: rebuilt {', '.join(keys)}")
        self.stdout.write(f"Rebuilt the pyramid of {rebuilt} run(s).")

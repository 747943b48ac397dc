"""Seed the demo: the four Axion models, their tuning experiments, a running A/B test.

Idempotent: each part is created only when absent, so a second `make run` reuses the data.
Everything goes through the apps' services (the same gates, audit and announcements as
the API). Models are trained in seconds on synthetic data (demo.training) as classes of the
stand-in platform package demo/platform/src/ml, and imported with `manage.py import_model`,
the command a user runs; each version's load check (by the worker, else here) must pass
before it may leave draft.
"""

from __future__ import annotations

import io
import json
import pickle
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from abtest_app import assignment
from abtest_app import services as abtests
from abtest_app.models import ABTest
from abtest_app.vocabulary import Method, MetricType
from demo import synthetic, training
from demo.training import SPECS, Candidate
from experiments_app import services as tracking
from experiments_app.models import Experiment
from models_app import selectors as registry_selectors
from models_app import services as registry
from models_app.choices import Direction, LoadCheckStatus, Stage
from models_app.models import ModelVersion, RegisteredModel
from serving_app import services as serving

LOAD_CHECK_WAIT_SECONDS = 60

# Which version each model serves after seeding: "1.1.0" means the tuned version replaced the
# baseline (so a rollback is possible); "1.0.0" leaves 1.1.0 in staging as a challenger.
PRODUCTION = {
    "stock-ranking": "1.0.0",
    "market-regime": "1.1.0",
    "earnings-surprise": "1.0.0",
    "factor-timing": "1.1.0",
}
PRIMARY_METRIC = {
    "stock-ranking": ("auc", "max"),
    "market-regime": ("accuracy", "max"),
    "earnings-surprise": ("auc", "max"),
    "factor-timing": ("rmse", "min"),
}
ABTEST_NAME = "stock-ranking 1.1.0 vs 1.0.0"
ABTEST_MODEL = "stock-ranking"


class Command(BaseCommand):
    help = "Create the demo data (models, versions, experiments, an A/B test) if absent."
    _worker: bool | None = None

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--outcomes", type=int, default=1200,
                            help="Simulated A/B outcomes to record at seeding.")

    def handle(self, *args: Any, outcomes: int, **options: Any) -> None:
        started = time.monotonic()
        user = get_user_model().objects.filter(username="admin").first()
        actor = registry.system_user()
        registered = {}
        for name in SPECS:
            versions = self.seed_model(name, user=user)
            if versions:
                registered[name] = versions
        self.load_checked([v for pair in registered.values() for v in pair])
        for name, (first, second) in registered.items():
            self.deploy(name, first, second, actor=actor)
        self.seed_abtest(user=user or actor, outcomes=outcomes)
        self.say(f"demo data ready ({time.monotonic() - started:.1f} s)")

    def say(self, message: str) -> None:
        self.stdout.write(f"[seed_demo] {message}")
        self.stdout.flush()

    # -- models, experiments, versions ------------------------------------------------

    def seed_model(self, name: str, *, user: Any) -> tuple[ModelVersion, ModelVersion] | None:
        spec = SPECS[name]
        if RegisteredModel.objects.filter(name=name).exists():
            self.say(f"{name}: already registered, reusing it")
            return None
        self.say(f"{name}: training {1 + len(spec.sweep)} models ...")
        model = registry.model_create(
            name=name, description=spec.description, owner=user,
            tags={"team": "quant", "demo": "true"}, metric_directions=spec.metric_directions,
            gates=spec.gates,
        )
        baseline = training.train(name, spec.baseline, seed=1)
        if baseline.holdout is not None:
            registry.evaluation_dataset_register(
                model=model, name="holdout", filename="holdout.csv",
                file=io.BytesIO(baseline.holdout.to_csv(index=False).encode()),
                label_column=str(baseline.holdout.columns[-1]), created_by=user)
        best_run_id, best = self.seed_experiment(name, user=user)
        first = self.register(name, baseline, "1.0.0", "Baseline: shallow trees, few rounds.",
                              run_id="", user=user)
        second = self.register(name, best, "1.1.0", "Tuned: the best run of the sweep.",
                               run_id=best_run_id, user=user)
        return first, second

    def deploy(self, name: str, first: ModelVersion, second: ModelVersion, *,
               actor: Any) -> None:
        first.refresh_from_db()
        second.refresh_from_db()
        registry.version_transition(version=first, to=Stage.STAGING, actor=actor,
                                    reason="baseline validated offline", source="seed_demo")
        registry.version_promote(version=first, actor=actor, reason="first production model",
                                 source="seed_demo")
        registry.version_transition(version=second, to=Stage.STAGING, actor=actor,
                                    reason="best run of the tuning sweep", source="seed_demo")
        if PRODUCTION[name] == "1.1.0":
            registry.version_promote(version=second, actor=actor,
                                     reason="better offline metrics than 1.0.0",
                                     source="seed_demo")
        self.say(f"{name}: versions 1.0.0 and 1.1.0 registered, {PRODUCTION[name]} in "
                 f"production")

    def load_checked(self, versions: list[ModelVersion]) -> None:
        """Wait for the versions' load checks: by the worker, or here when none runs."""
        wait = LOAD_CHECK_WAIT_SECONDS * len(versions) if self.worker_running() else 0
        deadline = time.monotonic() + wait
        pending = list(versions)
        while pending and time.monotonic() < deadline:
            time.sleep(0.2)
            checked = set(ModelVersion.objects.filter(pk__in=[v.pk for v in pending])
                          .exclude(load_check_status=LoadCheckStatus.PENDING)
                          .values_list("pk", flat=True))
            pending = [v for v in pending if v.pk not in checked]
        if pending:
            self.say(f"no worker checked {len(pending)} version(s); checking them here")
            for version in pending:
                serving.version_load_check(version_id=version.pk)
        for version in versions:
            version.refresh_from_db()
            report = version.load_check
            if version.load_check_status != LoadCheckStatus.PASSED:
                raise SystemExit(f"[seed_demo] {version} failed its load check: "
                                 f"{report.get('error')} {report.get('hint', '')}")
            verified = ", ".join(f"{k} {v:.3f}"
                                 for k, v in sorted(version.verified_metrics.items()))
            self.say(f"{version}: load check passed in {report.get('check_seconds', 0):.1f} s "
                     f"(load {report['load_ms']:.0f} ms, predict {report['predict_ms']:.2f} ms "
                     f"on {report['rows']} rows, {report['rss_mb']:.0f} MB)"
                     + (f"; verified {verified}" if verified else ""))

    def worker_running(self) -> bool:
        if self._worker is None:
            from axion_registry.celery import app

            try:
                self._worker = bool(app.control.ping(timeout=1.0))
            except Exception:  # noqa: BLE001 - no broker: no worker either
                self._worker = False
        return self._worker

    def seed_experiment(self, name: str, *, user: Any) -> tuple[str, Candidate]:
        """A tuning sweep as an experiment; returns the best run's id and its model."""
        spec = SPECS[name]
        experiment_name = f"{name}-tuning"
        experiment = Experiment.objects.filter(name=experiment_name).first()
        if experiment is None:
            experiment = tracking.experiment_create(
                name=experiment_name, description=f"Hyperparameter sweep for {name}.",
                tags={"model": name},
            )
        metric, direction = PRIMARY_METRIC[name]
        best: tuple[float, str, Candidate] | None = None
        for number, params in enumerate(spec.sweep):
            candidate = training.train(name, params, seed=10 + number)
            run = tracking.run_create(
                experiment=experiment, user=user, source="manage.py seed_demo",
                name=" ".join(f"{key}={value}" for key, value in params.items()),
                tags={"model": name, "estimator": type(candidate.estimator).__name__},
                params=params,
            )
            stamp = int(time.time() * 1000)
            points = [
                {"key": key, "value": value, "step": step, "timestamp": stamp + step}
                for key, values in candidate.history.items()
                for step, value in enumerate(values)
            ]
            points += [{"key": key, "value": value, "step": len(candidate.history["val_loss"]),
                        "timestamp": stamp} for key, value in candidate.metrics.items()]
            tracking.batch_log(run_id=run.run_id, body={"metrics": points})
            tracking.run_end(run=run)
            score = candidate.metrics[metric] * (1 if direction == "max" else -1)
            if best is None or score > best[0]:
                best = (score, run.run_id, candidate)
        assert best is not None
        self.say(f"{name}: experiment '{experiment_name}' with {len(spec.sweep)} runs")
        return best[1], best[2]

    def register(self, name: str, candidate: Candidate, version: str, description: str, *,
                 run_id: str, user: Any) -> ModelVersion:
        """Import the trained platform object as a user would: a pickle and example rows."""
        with tempfile.TemporaryDirectory(prefix="axion-demo-") as folder:
            artifact, example = Path(folder) / "model.pkl", Path(folder) / "example.csv"
            artifact.write_bytes(pickle.dumps(candidate.estimator))
            pd.DataFrame(candidate.input_example).to_csv(example, index=False)
            call_command(
                "import_model", str(artifact), "--name", name, "--model-version", version,
                "--input-example", str(example), "--metrics", json.dumps(candidate.metrics),
                "--hyperparameters", json.dumps(candidate.params), "--tag",
                "trained_on=synthetic", "--description", description,
                "--source-run-id", run_id, stdout=io.StringIO(),
            )
        row = ModelVersion.objects.get(model__name=name, version=version)
        if user is not None and row.created_by_id is None:
            ModelVersion.objects.filter(pk=row.pk).update(created_by=user)
            row.refresh_from_db()
        return row

    # -- the A/B test ------------------------------------------------------------------

    def seed_abtest(self, *, user: Any, outcomes: int) -> None:
        if ABTest.objects.filter(name=ABTEST_NAME).exists():
            self.say("A/B test: already there, reusing it")
            return
        model = registry_selectors.model_get(name=ABTEST_MODEL)
        champion = registry_selectors.version_in_production(model=model)
        if champion is None:
            self.say("A/B test: no production champion, skipped")
            return
        challenger = model.versions.exclude(pk=champion.pk).filter(stage=Stage.STAGING).first()
        if challenger is None:
            self.say("A/B test: no staging challenger, skipped")
            return
        test = abtests.abtest_create(
            name=ABTEST_NAME, model=model, champion=champion, challenger=challenger,
            description="Does the tuned ranking pick better stocks? Outcome: 21-day forward "
            "return (bps) of the top quintile, per portfolio.",
            metric_name="forward_return_bps", metric_type=MetricType.CONTINUOUS,
            metric_direction=Direction.HIGHER, method=Method.SEQUENTIAL, challenger_share=50.0,
            assignment_unit="portfolio", min_samples_per_arm=500,
            planned_samples_per_arm=20000, created_by=user,
        )
        # The looks are spread over the past hours, as the scheduled evaluation would have
        # taken them, so the A/B tab's charts have a time axis from the first minute.
        looks, every = 6, timedelta(minutes=30)
        started = timezone.now() - looks * every
        test = abtests.abtest_start(test=test, actor=user, now=started)
        rng = np.random.default_rng(2026)
        per_look = max(1, outcomes // looks)
        for look in range(looks):
            batch = []
            for i in range(per_look):
                unit = f"portfolio-{look * per_look + i}"
                arm = assignment.assign_arm(test.seed, unit, test.challenger_share)
                batch.append({"unit_id": unit, "value": synthetic.abtest_outcome(arm, rng),
                              "outcome_id": f"seed-{unit}"})
            abtests.abtest_record_outcomes(test=test, outcomes=batch)
            abtests.abtest_evaluate(test_id=test.pk, now=started + (look + 1) * every)
        self.say(f"A/B test: '{ABTEST_NAME}' running with {per_look * looks} outcomes")

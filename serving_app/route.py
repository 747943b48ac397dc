"""The route a model's requests take, how it is read from the registry and the running A/B
test, and the table of routes a serving process holds and swaps.

- `serving_plan(model_name=...)` reads which versions take the model's traffic: the
  production version, its fallback (what a rollback would restore), and, while an A/B test
  runs, its champion and challenger (abtest_app's `RunningTest`), and which version each of
  the model's aliases names (`<model>@<alias>`); all from models_app.selectors and
  abtest_app.selectors.
- `Route` is that plan with each version loaded and warmed in this process
  (serving_app.loaded.LoadedVersion); `choose_arm` picks the arm of a unit.
- `RouteTable` holds one route per model. At most every SERVING_GENERATION_CHECK_MS it
  checks the generations (Redis, else the database); a changed one makes it read the new
  plan, load and warm what it needs in a background thread beside the old route, then swap
  the route in one assignment. Requests keep using the old route until then, so none fails
  during a swap.
"""

from __future__ import annotations

import gc
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from abtest_app.assignment import CHALLENGER, CHAMPION, assign_arm
from abtest_app.selectors import RunningTest, running_test_for_model
from models_app import selectors as registry
from models_app.errors import ModelNotFound
from models_app.models import ModelVersion
from serving_app.cache import ModelCache
from serving_app.generation import generations_read
from serving_app.loaded import LoadedVersion, version_warm_up
from serving_app.loader import VersionRecord
from serving_app.metrics import LOAD_FAILURES, SWAPS, LatencyRecorder
from serving_app.selectors import policy_get

__all__ = ["CHALLENGER", "CHAMPION", "Route", "RouteTable", "ServingPlan", "choose_arm",
           "serving_plan"]

logger = logging.getLogger(__name__)

WARM_ROUNDS = 3
_plans = itertools.count(1)


# -- what a route is, read from the registry and the running test ----------------------


@dataclass(frozen=True)
class ServingPlan:
    """Which versions a model's traffic goes to, as records detached from the ORM."""

    model_id: int
    model_name: str
    production: VersionRecord | None
    fallback: VersionRecord | None
    abtest: RunningTest | None
    champion: VersionRecord | None
    challenger: VersionRecord | None
    timeout: float | None
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> version number


@dataclass(frozen=True, eq=False)
class Route:
    """A plan with its versions loaded here; swapped whole, never changed in place."""

    model_name: str
    model_id: int
    generation: int
    plan_seq: int
    primary: LoadedVersion | None
    fallback: LoadedVersion | None
    abtest: RunningTest | None = None
    champion: LoadedVersion | None = None
    challenger: LoadedVersion | None = None
    timeout: float | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    built_at: float = field(default_factory=time.monotonic)

    def versions(self) -> list[LoadedVersion]:
        return [v for v in (self.primary, self.fallback, self.champion, self.challenger) if v]


def _record(row: ModelVersion | None) -> VersionRecord | None:
    return VersionRecord.from_row(row) if row is not None else None


def serving_plan(*, model_name: str) -> ServingPlan:
    model = registry.model_get(name=model_name)
    production = registry.version_in_production(model=model)
    if production is not None:
        production.model = model  # the row we hold: VersionRecord reads its name and keys
    fallback = registry.rollback_target(model=model, current=production)
    test = running_test_for_model(model.pk)
    champion = challenger = None
    if test is not None:
        rows = ModelVersion.objects.select_related("model").in_bulk(
            [test.champion_version_id, test.challenger_version_id]
        )
        champion = rows.get(test.champion_version_id)
        challenger = rows.get(test.challenger_version_id)
        if champion is None or challenger is None:
            test = None
    return ServingPlan(
        model_id=model.pk,
        model_name=model.name,
        production=_record(production),
        fallback=_record(fallback),
        abtest=test,
        champion=_record(champion),
        challenger=_record(challenger),
        timeout=policy_get(model=model).timeout_seconds,
        aliases=registry.alias_map(model=model),
    )


def choose_arm(test: RunningTest, unit_id: str | None) -> str:
    """The unit's arm (abtest_app's assignment, so serving and the assign endpoint agree);
    a request without a unit id goes to the champion."""
    if unit_id is None or unit_id == "":
        return CHAMPION
    share = test.challenger_share
    if share <= 0:
        return CHAMPION
    if share >= 100:
        return CHALLENGER
    return assign_arm(test.seed, str(unit_id), share)


# -- the routes of this process, built beside the old ones and swapped ------------------


class RouteTable:
    def __init__(self, *, cache: ModelCache, recorder: LatencyRecorder, background: bool,
                 check_interval_ms: int):
        self.cache = cache
        self.recorder = recorder
        self._interval_ns = int(check_interval_ms) * 1_000_000
        self._next_check = 0
        self._check_lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._pin_lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._busy = False
        self._retry_after: dict[str, float] = {}
        self.refreshing: set[str] = set()
        self.preloading: set[str] = set()
        self._swapper = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="serving-swap")
            if background else None
        )

    def get(self, model_name: str) -> Route | None:
        return self._routes.get(model_name)

    def tick(self, now_ns: int) -> None:
        """Each request: the generation check, when it is due."""
        if now_ns >= self._next_check:
            self._check_generations(now_ns)

    def current(self, model_name: str) -> Route:
        """The model's route; the first request for a model in this process builds it
        (once, for all threads)."""
        return self._routes.get(model_name) or self._cold(model_name)

    def _model_lock(self, model_name: str) -> threading.RLock:
        with self._locks_lock:
            return self._model_locks.setdefault(model_name, threading.RLock())

    def _cold(self, model_name: str) -> Route:
        with self._model_lock(model_name):
            route = self._routes.get(model_name)
            if route is None:
                generation = generations_read().get(model_name, 0)
                route = self._build(serving_plan(model_name=model_name), generation)
                self._install(route)
        return route

    def _check_generations(self, now: int) -> None:
        """At most every interval: hand the check to the swapper thread (or run it here)."""
        if not self._check_lock.acquire(blocking=False):
            return
        try:
            if now < self._next_check:
                return
            self._next_check = now + self._interval_ns
            if not self._routes:
                return
            if self._swapper is None:
                self._run_check()
            elif not self._busy:
                self._busy = True
                self._swapper.submit(self._in_background, self._run_check)
        finally:
            self._check_lock.release()

    def _in_background(self, work: Callable[[], None]) -> None:
        # While this thread reads plans and loads models, request threads may get the GIL
        # back sooner than the default 5 ms switch interval (SERVING_SWAP_SWITCH_INTERVAL_US).
        interval = sys.getswitchinterval()
        wanted = settings.SERVING_SWAP_SWITCH_INTERVAL_US / 1e6
        if wanted > 0:
            sys.setswitchinterval(min(interval, wanted))
        try:
            work()
        except Exception:
            logger.exception("serving background work failed; serving the routes it has")
        finally:
            sys.setswitchinterval(interval)
            self._busy = False
            close_old_connections()  # this thread's connection is kept like a request's

    def _run_check(self) -> None:
        current = generations_read()
        now = time.monotonic()
        stale = now - settings.SERVING_ROUTE_REFRESH_SECONDS
        for name, route in list(self._routes.items()):
            generation = current.get(name, 0)
            if now < self._retry_after.get(name, 0.0):
                continue
            # A changed generation is a deployment; an old route is re-read anyway, so a
            # change nobody announced (an A/B test started) is picked up within that time.
            if generation != route.generation or route.built_at < stale:
                self.refresh(name, generation)

    def refresh(self, model_name: str, generation: int) -> None:
        """Read the model's plan, load and warm what it needs beside the old route, swap."""
        self.refreshing.add(model_name)
        try:
            route = self._build(serving_plan(model_name=model_name), generation)
            current = self._routes.get(model_name)
            settle = settings.SERVING_SWAP_SETTLE_MS / 1000
            if settle > 0 and self._swapper is not None and current is not None \
                    and current.primary is not route.primary:
                # Requests slowed by the loading above finish before the new version takes
                # traffic, so its first requests do not share the GIL with us.
                time.sleep(settle)
            self._install(route)
        except ModelNotFound:
            self._routes.pop(model_name, None)
        except Exception:
            logger.exception("could not build the serving route of %s", model_name)
            self._retry_after[model_name] = time.monotonic() + 2
        finally:
            self.refreshing.discard(model_name)

    def preload(self, model_name: str) -> None:
        """Build the model's route in the background (readiness asks for missing ones)."""
        def work() -> None:
            self.preloading.discard(model_name)
            self.refresh(model_name, generations_read().get(model_name, 0))

        if self._swapper is None:
            work()
        elif model_name not in self.preloading:
            self.preloading.add(model_name)
            self._swapper.submit(self._in_background, work)

    def _build(self, plan: ServingPlan, generation: int) -> Route:
        seq = next(_plans)

        def loaded(record: VersionRecord | None) -> LoadedVersion | None:
            return None if record is None else self.loaded(record)

        primary = loaded(plan.production)
        champion = challenger = None
        if plan.abtest is not None:
            champion = loaded(plan.champion)
            challenger = loaded(plan.challenger)
        return Route(
            model_name=plan.model_name, model_id=plan.model_id, generation=generation,
            plan_seq=seq, primary=primary, fallback=loaded(plan.fallback), abtest=plan.abtest,
            champion=champion, challenger=challenger, timeout=plan.timeout,
            aliases=plan.aliases,
        )

    def _install(self, route: Route) -> None:
        with self._model_lock(route.model_name):
            old = self._routes.get(route.model_name)
            if old is not None and old.plan_seq > route.plan_seq:
                return  # a newer plan was installed meanwhile
            self._routes[route.model_name] = route
        with self._pin_lock:  # routes of other models change meanwhile: pin from a copy
            routes = list(self._routes.values())
            self.cache.pin({v.version_id for r in routes for v in r.versions()})
        if settings.SERVING_GC_FREEZE:
            # What is loaded now lives as long as the process: out of the collector's sight,
            # a large request's full collections stop walking every model and module
            # (bench/dataframe_input.py: p95 of 10,000-row calls 487 ms -> 77 ms).
            gc.freeze()
        if old is not None and old.primary is not route.primary:
            SWAPS.labels(route.model_name).inc()
            logger.info("%s now serves %s (was %s)", route.model_name,
                        route.primary.version if route.primary else None,
                        old.primary.version if old.primary else None)

    def loaded(self, record: VersionRecord) -> LoadedVersion:
        """The cached version, else loaded and warmed once; a failure gives a broken one."""
        try:
            cached = self.cache.get(record.version_id)
            if cached is not None and cached.record.serving_key != record.serving_key:
                self.cache.forget(record.version_id)  # its input mode or signature changed
            return self.cache.get_or_load(
                record.version_id, lambda: (self._load_and_warm(record), record.artifact_size)
            )
        except Exception as exc:
            message = _load_failure(record, exc)
            LOAD_FAILURES.labels(record.model_name, record.version).inc()
            return LoadedVersion(record, None, None, error=message)

    def _load_and_warm(self, record: VersionRecord) -> LoadedVersion:
        warm = version_warm_up(record, rounds=WARM_ROUNDS)
        self.recorder.prepare(record.model_name, record.version_id, record.version)
        return LoadedVersion.warmed(warm)

    def describe_cache(self) -> dict[str, Any]:
        return {"entries": len(self.cache.keys()), "bytes": self.cache.total_bytes,
                "pinned": sorted(self.cache.pinned)}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the background work queued so far is done (tests, the benchmark)."""
        if self._swapper is None:
            return True
        done = self._swapper.submit(lambda: None)
        try:
            done.result(timeout)
        except FutureTimeout:
            return False
        return True

    def close(self) -> None:
        """Idempotent: reset_runtime and the interpreter's exit may both close a runtime."""
        swapper, self._swapper = self._swapper, None
        if swapper is None:
            return
        try:
            swapper.submit(connection.close)  # the swapper thread's own connection
        except RuntimeError:  # the interpreter is already stopping its thread pools
            pass
        swapper.shutdown(wait=True)


def _load_failure(record: VersionRecord, exc: Exception) -> str:
    from serving_app.exercise import failure_hint

    message = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
    hint = failure_hint(exc, platform_package=settings.PLATFORM_MODEL_PACKAGE,
                        platform_paths=settings.PLATFORM_MODEL_PATHS)
    message = (f"{message} ({hint})" if hint else message)[:1000]
    logger.error("%s cannot be served by this process: %s", record.label, message,
                 exc_info=exc)
    return message

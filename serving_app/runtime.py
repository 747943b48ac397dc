"""The serving runtime of one process: routes, the model cache, swaps, fallback, latency.

`predict(model_name, rows, version=None, unit_id=None)` is the Python API; the REST view
calls the same function. Each process holds one ServingRuntime (made after fork):

- a route per model: the production version, its fallback (the previous production
  version) and, while an A/B test runs, the champion and challenger, all loaded and warmed;
- a generation check, at most every SERVING_GENERATION_CHECK_MS, against Redis or the
  database; a changed generation makes the process read the new plan, load and warm the
  new versions in a background thread beside the old ones, then swap the route in one
  assignment. Requests keep using the old route until then, so none fails during a swap.
"""

from __future__ import annotations

import atexit
import gc
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from time import perf_counter_ns
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from models_app.errors import ModelNotFound
from serving_app import loader, selectors
from serving_app.cache import ModelCache
from serving_app.errors import ModelUnavailable, NotDeployed
from serving_app.exercise import exercise, failure_hint
from serving_app.generation import generations_read
from serving_app.inputs import RowsError
from serving_app.metrics import ERROR, FALLBACK, LOAD_FAILURES, OK, SWAPS, LatencyRecorder
from serving_app.routing import CHALLENGER, choose_arm
from serving_app.versions import LoadedVersion, Prediction, Route, VersionBroken

__all__ = ["LoadedVersion", "Prediction", "Route", "ServingRuntime", "get_runtime", "predict",
           "reset_runtime"]

logger = logging.getLogger(__name__)

WARM_ROUNDS = 3
BACKGROUND_SWITCH_INTERVAL = 0.0002  # seconds
SWAP_SETTLE_SECONDS = 0.01
_plans = itertools.count(1)


class ServingRuntime:
    def __init__(self, *, background: bool = True, check_interval_ms: int | None = None):
        self.pid = os.getpid()
        self.cache = ModelCache(max_entries=settings.SERVING_CACHE_MAX_MODELS,
                                max_bytes=settings.SERVING_CACHE_MAX_BYTES)
        self.recorder = LatencyRecorder()
        interval = (settings.SERVING_GENERATION_CHECK_MS if check_interval_ms is None
                    else check_interval_ms)
        self._interval_ns = int(interval) * 1_000_000
        self._next_check = 0
        self._check_lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._pin_lock = threading.Lock()
        self._model_locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._refreshing: set[str] = set()
        self._busy = False
        self._preloading: set[str] = set()
        self._retry_after: dict[str, float] = {}
        self._explicit: dict[tuple[str, str], loader.VersionRecord] = {}
        self._log_state: dict[int, tuple[float, int]] = {}
        self._swapper = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="serving-swap")
            if background else None
        )

    # -- the request path --------------------------------------------------------------

    def predict(self, model_name: str, rows: Any, *, version: str | None = None,
                unit_id: str | None = None) -> Prediction:
        start = perf_counter_ns()
        if start >= self._next_check:
            self._check_generations(start)
        arm = None
        timeout = None
        if version is None or version == "production":
            route = self._routes.get(model_name) or self._cold_route(model_name)
            target = route.primary
            if target is None:
                raise NotDeployed(f"{model_name} has no version in production to serve.")
            fallback = route.fallback
            timeout = route.timeout
            test = route.abtest
            if test is not None:
                arm = choose_arm(test, unit_id)
                if arm == CHALLENGER:
                    target, fallback = route.challenger, route.champion
                elif route.champion is not target:
                    target, fallback = route.champion, target
        else:
            target, fallback = self._explicit_version(model_name, version), None

        error = ""
        try:
            if target.error:
                raise VersionBroken(target.error)
            model_input, n = target.spec.prepare(rows)
            predictions = target.call(model_input, n, timeout)
            served, outcome = target, OK
        except RowsError as exc:
            raise _invalid(exc) from exc
        except Exception as exc:
            error = self._failure(target, exc)
            served, outcome = fallback, FALLBACK
            unchecked = target.spec is not None and target.spec.columns is None
            if served is None or served.error:
                if unchecked and _rejects_input(exc):
                    # No signature checked these rows: the model's complaint may well be
                    # about them, so it is the caller's 400, not a fault that counts.
                    raise _rejected(target, error) from exc
                self._record(target, ERROR, start, error)
                raise ModelUnavailable(
                    f"{target.label} failed ({error}) and no fallback version is available; "
                    "try again later or ask for a specific version.",
                    details={"version": target.version, "error": error},
                ) from exc
            try:
                model_input, n = served.spec.prepare(rows)
                predictions = served.call(model_input, n, timeout)
            except RowsError as rows_exc:  # the rows do not fit: the caller's error
                raise _invalid(rows_exc) from rows_exc
            except Exception as fallback_exc:
                fallback_error = self._failure(served, fallback_exc)
                if unchecked and _rejects_input(exc) and _rejects_input(fallback_exc):
                    raise _rejected(target, f"{error}; {served.label}: {fallback_error}") \
                        from fallback_exc
                self._record(target, ERROR, start, error)
                raise ModelUnavailable(
                    f"{target.label} failed ({error}) and its fallback {served.label} failed "
                    f"too ({fallback_error}).",
                    details={"version": target.version, "error": error,
                             "fallback_error": fallback_error},
                ) from fallback_exc
        self._record(target, outcome, start, error)
        return Prediction(model_name, served.version, served.version_id, predictions, arm,
                          outcome == FALLBACK)

    def _record(self, target: LoadedVersion, outcome: str, start: int, error: str) -> None:
        self.recorder.record(target.model_name, target.version_id, target.version, outcome,
                             perf_counter_ns() - start, error)

    def _failure(self, version: LoadedVersion, exc: BaseException) -> str:
        """Log a failing version with its traceback, at most once a second per version."""
        message = f"{type(exc).__name__}: {exc}"[:500]
        now = time.monotonic()
        last, suppressed = self._log_state.get(version.version_id, (0.0, 0))
        if now - last >= 1.0:
            more = f" ({suppressed} more failures since the last report)" if suppressed else ""
            logger.error("%s failed%s: %s", version.label, more, message, exc_info=exc)
            self._log_state[version.version_id] = (now, 0)
        else:
            self._log_state[version.version_id] = (last, suppressed + 1)
        return message

    # -- routes ------------------------------------------------------------------------

    def _model_lock(self, model_name: str) -> threading.RLock:
        with self._locks_lock:
            return self._model_locks.setdefault(model_name, threading.RLock())

    def _cold_route(self, model_name: str) -> Route:
        """The first request for a model in this process loads it (once, for all threads)."""
        with self._model_lock(model_name):
            route = self._routes.get(model_name)
            if route is None:
                generation = generations_read().get(model_name, 0)
                plan = selectors.serving_plan(model_name=model_name)
                route = self._materialize(plan, generation, next(_plans))
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

    def _in_background(self, work: Callable[..., None], *args: Any) -> None:
        # While this thread reads plans and loads models, request threads should get the
        # GIL back quickly: the default 5 ms switch interval would be their added latency.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, BACKGROUND_SWITCH_INTERVAL))
        try:
            work(*args)
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
                self._refresh(name, generation)

    def _refresh(self, model_name: str, generation: int) -> None:
        """Read the model's plan, load and warm what it needs beside the old route, swap."""
        self._refreshing.add(model_name)
        try:
            plan = selectors.serving_plan(model_name=model_name)
            route = self._materialize(plan, generation, next(_plans))
            current = self._routes.get(model_name)
            if self._swapper is not None and current is not None \
                    and current.primary is not route.primary:
                # Let requests slowed by the loading above finish before the new version
                # takes traffic, so its first requests do not share the GIL with us.
                time.sleep(SWAP_SETTLE_SECONDS)
            self._install(route)
        except ModelNotFound:
            self._routes.pop(model_name, None)
        except Exception:
            logger.exception("could not build the serving route of %s", model_name)
            self._retry_after[model_name] = time.monotonic() + 2
        finally:
            self._refreshing.discard(model_name)

    def _materialize(self, plan: selectors.ServingPlan, generation: int, seq: int) -> Route:
        def loaded(record: loader.VersionRecord | None) -> LoadedVersion | None:
            return None if record is None else self._loaded(record)

        primary = loaded(plan.production)
        champion = challenger = None
        if plan.abtest is not None:
            champion = loaded(plan.champion)
            challenger = loaded(plan.challenger)
        return Route(
            model_name=plan.model_name, model_id=plan.model_id, generation=generation,
            plan_seq=seq, primary=primary, fallback=loaded(plan.fallback), abtest=plan.abtest,
            champion=champion, challenger=challenger, timeout=plan.timeout,
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

    def _loaded(self, record: loader.VersionRecord) -> LoadedVersion:
        """The cached version, else loaded and warmed once; a failure gives a broken one."""
        try:
            cached = self.cache.get(record.version_id)
            if cached is not None and cached.record.serving_key != record.serving_key:
                fresh = self._load_and_warm(record)  # its input mode or signature changed
                self.cache.put(record.version_id, fresh, record.artifact_size)
                return fresh
            return self.cache.get_or_load(
                record.version_id, lambda: (self._load_and_warm(record), record.artifact_size)
            )
        except Exception as exc:
            message = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
            hint = failure_hint(exc, platform_package=settings.PLATFORM_MODEL_PACKAGE,
                                platform_paths=settings.PLATFORM_MODEL_PATHS)
            message = (f"{message} ({hint})" if hint else message)[:1000]
            logger.error("%s cannot be served by this process: %s", record.label, message,
                         exc_info=exc)
            LOAD_FAILURES.labels(record.model_name, record.version).inc()
            return LoadedVersion(record, None, None, error=message)

    def _load_and_warm(self, record: loader.VersionRecord) -> LoadedVersion:
        started = time.perf_counter()
        artifact = loader.load(record)
        version = LoadedVersion(record, artifact.predict, artifact.spec,
                                load_ms=(time.perf_counter() - started) * 1000)
        self.recorder.prepare(record.model_name, record.version_id, record.version)
        started = time.perf_counter()
        exercise(artifact.predict, artifact.spec, signature=record.signature,
                 input_example=record.input_example, rounds=WARM_ROUNDS)
        version.warm_ms = (time.perf_counter() - started) * 1000
        return version

    def _explicit_version(self, model_name: str, version: str) -> LoadedVersion:
        key = (model_name, version)
        record = self._explicit.get(key)
        if record is None:
            record = selectors.version_record(model_name=model_name, version=version)
            if record.version == version:  # numbers never move; stage names do
                self._explicit[key] = record
        loaded = self._loaded(record)
        if loaded.error:
            raise ModelUnavailable(f"{record.label} cannot be served: {loaded.error}",
                                   details={"version": record.version})
        return loaded

    # -- readiness, status, waiting ----------------------------------------------------

    def readiness(self, *, load_missing: bool = False) -> list[dict[str, Any]]:
        """Production versions not yet loaded and warm here; with `load_missing`, asks for
        the missing ones (an anonymous probe only looks)."""
        missing = []
        for record in selectors.production_records():
            route = self._routes.get(record.model_name)
            primary = route.primary if route else None
            if primary is not None and primary.version_id == record.version_id \
                    and not primary.error:
                continue
            if primary is not None and primary.version_id == record.version_id:
                reason = f"failed to load or warm up: {primary.error}"
            elif record.model_name in self._refreshing or record.model_name in self._preloading:
                reason = "loading"
            else:
                reason = "not loaded"
                if load_missing:
                    self.preload(record.model_name)
            missing.append({"model": record.model_name, "version": record.version,
                            "reason": reason})
        return missing

    def preload_production(self) -> None:
        """Load what production needs and this process lacks (in the background): a new
        serving process does it before its first request, and the flush thread now and then,
        so a model first promoted after the start is warm here before anyone asks for it."""
        self.readiness(load_missing=True)

    def preload(self, model_name: str) -> None:
        """Build the model's route in the background (readiness asks for missing ones)."""
        def work() -> None:
            self._preloading.discard(model_name)
            self._refresh(model_name, generations_read().get(model_name, 0))

        if self._swapper is None:
            work()
        elif model_name not in self._preloading:
            self._preloading.add(model_name)
            self._swapper.submit(self._in_background, work)

    def route(self, model_name: str) -> Route | None:
        return self._routes.get(model_name)

    def describe(self, model_name: str) -> dict[str, Any]:
        route = self._routes.get(model_name)
        body: dict[str, Any] = {"process": self.pid, "loaded_in_process": route is not None}
        if route is None:
            return body
        body.update({
            "generation": route.generation,
            "production": route.primary.describe() if route.primary else None,
            "fallback": route.fallback.describe() if route.fallback else None,
            "timeout_ms": None if route.timeout is None else route.timeout * 1000,
            "abtest": None if route.abtest is None else {
                "test_id": route.abtest.test_id,
                "challenger_share": route.abtest.challenger_share,
                "champion": route.champion.describe() if route.champion else None,
                "challenger": route.challenger.describe() if route.challenger else None,
            },
            "cache": {"entries": len(self.cache.keys()), "bytes": self.cache.total_bytes,
                      "pinned": sorted(self.cache.pinned)},
        })
        return body

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

    def refresh(self, model_name: str) -> None:
        """Re-read the model's plan now (on the swapper thread when in the background)."""
        self.preload(model_name)

    def check_now(self) -> None:
        """Run the generation check on the next request (tests)."""
        self._next_check = 0

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


# What a model raises about rows it cannot use (wrong width, types, missing keys), as
# opposed to a fault of its own or of serving (a broken load, a time-out, anything else).
_INPUT_COMPLAINTS = (ValueError, TypeError, KeyError, IndexError)


def _rejects_input(exc: BaseException) -> bool:
    return isinstance(exc, _INPUT_COMPLAINTS) and not isinstance(exc, VersionBroken)


def _rejected(target: LoadedVersion, error: str):
    from serving_app.errors import InputRejected

    return InputRejected(
        f"{target.label} could not use these rows ({error}). Check the columns and types "
        "against the version's signature and input example (GET its version).",
        details={"version": target.version, "error": error},
    )


def _invalid(exc: RowsError):
    from serving_app.errors import InvalidRows

    return InvalidRows(str(exc), details={"column": exc.column} if exc.column else None)


_runtime: ServingRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> ServingRuntime:
    """This process's runtime, made on first use after fork (each gunicorn worker has one)."""
    global _runtime
    runtime = _runtime
    if runtime is not None and runtime.pid == os.getpid():
        return runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = ServingRuntime()
            threading.Thread(target=_warm_publisher, name="serving-warm-publisher",
                             daemon=True).start()
            if settings.SERVING_FLUSH_SECONDS > 0:
                from serving_app.flusher import start_flusher

                start_flusher(_runtime, settings.SERVING_FLUSH_SECONDS)
        return _runtime


def _warm_publisher() -> None:
    """Set up the Celery producer off the request path: otherwise the first deployment
    announced from this process pays for it while holding the GIL (tens of ms)."""
    try:
        from serving_app.tasks import deployment_warm_up

        with deployment_warm_up.app.producer_or_acquire():
            pass
    except Exception:
        logger.warning("could not reach the Celery broker yet", exc_info=True)


def reset_runtime(runtime: ServingRuntime | None = None) -> None:
    """Replace this process's runtime (tests start each case from a cold process)."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
        _runtime = runtime


def predict(model_name: str, rows: Any, *, version: str | None = None,
            unit_id: str | None = None) -> Prediction:
    """Predictions from the model's production version (or `version`), with fallback.

    `rows`: records (a list of dicts), {"records": [...]}, {"dataframe_split": {...}}, a
    pandas DataFrame or a 2-D numpy array. With an A/B test running, `unit_id` picks the
    arm; without one the champion answers.
    """
    return (_runtime or get_runtime()).predict(model_name, rows, version=version,
                                               unit_id=unit_id)


def _forget_after_fork() -> None:
    # A forked child (a gunicorn worker) builds its own runtime: threads do not survive fork.
    global _runtime
    _runtime = None


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(lambda: _runtime is not None and _runtime.close())

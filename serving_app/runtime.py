"""The serving runtime of one process: the request path from a model name to an answer.

`predict(model_name, rows, version=None, unit_id=None)` is the Python API; the REST view
calls the same function. Each process holds one ServingRuntime (made after fork), which
asks its RouteTable (serving_app.route) for the model's route, picks the version (the A/B
arm of `unit_id`, or the one asked for by number or stage), calls it
(serving_app.loaded.LoadedVersion) and, when it fails, asks the route's fallback.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from time import perf_counter_ns
from typing import Any

from django.conf import settings

from models_app.errors import AliasNotFound
from models_app.vocabulary import Stage
from serving_app import selectors
from serving_app.cache import ModelCache
from serving_app.errors import InputRejected, InvalidRows, ModelUnavailable, NotDeployed
from serving_app.inputs import RowsError
from serving_app.loaded import LoadedVersion, Prediction, VersionBroken
from serving_app.loader import VersionRecord
from serving_app.metrics import ERROR, FALLBACK, OK, LatencyRecorder
from serving_app.route import CHALLENGER, Route, RouteTable, choose_arm

__all__ = ["LoadedVersion", "Prediction", "Route", "ServingRuntime", "get_runtime", "predict",
           "reset_runtime"]

logger = logging.getLogger(__name__)


class ServingRuntime:
    def __init__(self, *, background: bool = True, check_interval_ms: int | None = None):
        self.pid = os.getpid()
        self.cache = ModelCache(max_entries=settings.SERVING_CACHE_MAX_MODELS,
                                max_bytes=settings.SERVING_CACHE_MAX_BYTES)
        self.recorder = LatencyRecorder()
        interval = (settings.SERVING_GENERATION_CHECK_MS if check_interval_ms is None
                    else check_interval_ms)
        self.routes = RouteTable(cache=self.cache, recorder=self.recorder,
                                 background=background, check_interval_ms=interval)
        self._explicit: dict[tuple[str, str], VersionRecord] = {}
        self._log_state: dict[int, tuple[float, int]] = {}

    # -- the request path --------------------------------------------------------------

    def predict(self, model_name: str, rows: Any, *, version: str | None = None,
                unit_id: str | None = None) -> Prediction:
        start = perf_counter_ns()
        self.routes.tick(start)
        arm = None
        timeout = None
        if version is None or version == Stage.PRODUCTION:
            route = self.routes.current(model_name)
            target, fallback, arm = _pick(route, unit_id)
            timeout = route.timeout
        else:
            target, fallback = self._explicit_version(model_name, version), None
        try:
            predictions = target.answer(rows, timeout)
        except RowsError as exc:
            raise _invalid(exc) from exc
        except Exception as exc:
            served, predictions, error = self._fall_back(target, fallback, rows, timeout, exc,
                                                         start)
            self._record(target, FALLBACK, start, error)
            return Prediction(model_name, served.version, served.version_id, predictions, arm,
                              True)
        self._record(target, OK, start, "")
        return Prediction(model_name, target.version, target.version_id, predictions, arm,
                          False)

    def _fall_back(self, target: LoadedVersion, fallback: LoadedVersion | None, rows: Any,
                   timeout: float | None, exc: Exception,
                   start: int) -> tuple[LoadedVersion, list, str]:
        """The fallback's answer after `target` failed with `exc`, or the error to raise."""
        error = self._failure(target, exc)
        if fallback is None or fallback.error:
            if target.unchecked and _rejects_input(exc):
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
            return fallback, fallback.answer(rows, timeout), error
        except RowsError as rows_exc:  # the rows do not fit: the caller's error
            raise _invalid(rows_exc) from rows_exc
        except Exception as fallback_exc:
            fallback_error = self._failure(fallback, fallback_exc)
            if target.unchecked and _rejects_input(exc) and _rejects_input(fallback_exc):
                raise _rejected(target, f"{error}; {fallback.label}: {fallback_error}") \
                    from fallback_exc
            self._record(target, ERROR, start, error)
            raise ModelUnavailable(
                f"{target.label} failed ({error}) and its fallback {fallback.label} failed "
                f"too ({fallback_error}).",
                details={"version": target.version, "error": error,
                         "fallback_error": fallback_error},
            ) from fallback_exc

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

    def _explicit_version(self, model_name: str, version: str) -> LoadedVersion:
        key = (model_name, version)
        record = self._explicit.get(key)
        if record is None:
            record = selectors.version_record(model_name=model_name, version=version)
            if record.version == version:  # numbers never move; stage names do
                self._explicit[key] = record
        loaded = self.routes.loaded(record)
        if loaded.error:
            raise ModelUnavailable(f"{record.label} cannot be served: {loaded.error}",
                                   details={"version": record.version})
        return loaded

    def alias_version(self, model_name: str, alias: str) -> str:
        """The version number the alias names, as this process's route last read it (an
        alias change bumps the model's generation, so every process re-reads it)."""
        self.routes.tick(perf_counter_ns())
        version = self.routes.current(model_name).aliases.get(alias)
        if version is None:
            raise AliasNotFound(f"{model_name} has no alias '{alias}'; GET /api/v1/models/"
                                f"{model_name}/aliases/ lists them.")
        return version

    # -- readiness, status, waiting ----------------------------------------------------

    def readiness(self, *, load_missing: bool = False) -> list[dict[str, Any]]:
        """Production versions not yet loaded and warm here; with `load_missing`, asks for
        the missing ones (an anonymous probe only looks)."""
        missing = []
        for record in selectors.production_records():
            route = self.routes.get(record.model_name)
            primary = route.primary if route else None
            if primary is not None and primary.version_id == record.version_id \
                    and not primary.error:
                continue
            if primary is not None and primary.version_id == record.version_id:
                reason = f"failed to load or warm up: {primary.error}"
            elif record.model_name in self.routes.refreshing \
                    or record.model_name in self.routes.preloading:
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
        self.routes.preload(model_name)

    def refresh(self, model_name: str) -> None:
        """Re-read the model's plan now (on the swapper thread when in the background)."""
        self.routes.preload(model_name)

    def route(self, model_name: str) -> Route | None:
        return self.routes.get(model_name)

    def describe(self, model_name: str) -> dict[str, Any]:
        route = self.routes.get(model_name)
        body: dict[str, Any] = {"process": self.pid, "loaded_in_process": route is not None}
        if route is None:
            return body
        body.update({
            "generation": route.generation,
            "production": route.primary.describe() if route.primary else None,
            "fallback": route.fallback.describe() if route.fallback else None,
            "timeout_ms": None if route.timeout is None else route.timeout * 1000,
            "aliases": dict(route.aliases),
            "abtest": None if route.abtest is None else {
                "test_id": route.abtest.test_id,
                "challenger_share": route.abtest.challenger_share,
                "champion": route.champion.describe() if route.champion else None,
                "challenger": route.challenger.describe() if route.challenger else None,
            },
            "cache": self.routes.describe_cache(),
        })
        return body

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once the background work queued so far is done (tests, the benchmark)."""
        return self.routes.wait_idle(timeout)

    def close(self) -> None:
        self.routes.close()


def _pick(route: Route, unit_id: str | None) -> tuple[LoadedVersion, LoadedVersion | None,
                                                      str | None]:
    """The version that answers, its fallback, and the A/B arm (None without a test)."""
    target = route.primary
    if target is None:
        raise NotDeployed(f"{route.model_name} has no version in production to serve.")
    if route.abtest is None:
        return target, route.fallback, None
    arm = choose_arm(route.abtest, unit_id)
    if arm == CHALLENGER and route.challenger is not None:
        return route.challenger, route.champion, arm
    if route.champion is not None and route.champion is not target:
        return route.champion, target, arm
    return target, route.fallback, arm


# What a model raises about rows it cannot use (wrong width, types, missing keys), as
# opposed to a fault of its own or of serving (a broken load, a time-out, anything else).
_INPUT_COMPLAINTS = (ValueError, TypeError, KeyError, IndexError)


def _rejects_input(exc: BaseException) -> bool:
    return isinstance(exc, _INPUT_COMPLAINTS) and not isinstance(exc, VersionBroken)


def _rejected(target: LoadedVersion, error: str) -> InputRejected:
    return InputRejected(
        f"{target.label} could not use these rows ({error}). Check the columns and types "
        "against the version's signature and input example (GET its version).",
        details={"version": target.version, "error": error},
    )


def _invalid(exc: RowsError) -> InvalidRows:
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
            if settings.SERVING_WARM_PUBLISHER:
                threading.Thread(target=_warm_publisher, name="serving-warm-publisher",
                                 daemon=True).start()
            if settings.SERVING_FLUSH_SECONDS > 0:
                from serving_app.flusher import start_flusher

                start_flusher(_runtime, settings.SERVING_FLUSH_SECONDS)
        return _runtime


def _warm_publisher() -> None:
    """Set up the Celery producer off the request path: otherwise the first deployment
    announced from this process pays for it while holding the GIL."""
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
def _close_at_exit() -> None:
    if _runtime is not None:
        _runtime.close()


atexit.register(_close_at_exit)

"""Test support shared by every app's tests: callables that really run at the same time.

Each callable gets its own thread; all of them wait at one barrier, so none starts its work
before every thread is ready. Django opens one database connection per thread, so each thread
closes its connections when done (a kept connection would hold PostgreSQL's test database
open and block its teardown).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar, overload

from django.db import connections

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0


class StillRunning(AssertionError):
    """Some callables had not finished when the timeout ran out."""


@overload
def run_concurrently(calls: Sequence[Callable[[], T]], *, timeout: float = ...,
                     return_exceptions: Literal[False] = ...) -> list[T]: ...


@overload
def run_concurrently(calls: Sequence[Callable[[], T]], *, timeout: float = ...,
                     return_exceptions: Literal[True]) -> list[T | BaseException]: ...


def run_concurrently(calls: Sequence[Callable[[], T]], *, timeout: float = DEFAULT_TIMEOUT,
                     return_exceptions: bool = False) -> list[T] | list[T | BaseException]:
    """Run every callable in its own thread, all released at once; their results, in order.

    If any raised, an ExceptionGroup of every exception is raised once all have finished;
    with `return_exceptions=True` the exception takes the callable's place in the list
    instead. Raises StillRunning when some have not finished within `timeout` seconds.
    """
    barrier = threading.Barrier(len(calls))
    results: dict[int, T] = {}
    errors: dict[int, BaseException] = {}

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call), daemon=True,
                                name=f"run-concurrently-{i}")
               for i, call in enumerate(calls)]
    _start_and_join(threads, barrier, timeout)
    raised = _group(errors, len(calls))
    running = [i for i, thread in enumerate(threads) if thread.is_alive()]
    if running:
        raise StillRunning(f"callables {running} still running after {timeout} s") from raised
    if return_exceptions:
        return [errors[i] if i in errors else results[i] for i in range(len(calls))]
    if raised is not None:
        raise raised
    return [results[i] for i in range(len(calls))]


def _start_and_join(threads: list[threading.Thread], barrier: threading.Barrier,
                    timeout: float) -> None:
    try:
        for thread in threads:
            thread.start()
    except BaseException:
        barrier.abort()  # the started ones stop waiting for the rest
        raise
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _group(errors: dict[int, BaseException], count: int) -> BaseExceptionGroup | None:
    if not errors:
        return None
    return BaseExceptionGroup(f"{len(errors)} of {count} callables raised",
                              [errors[i] for i in sorted(errors)])


def wait_for(check: Callable[[], T], seconds: float = 30.0, what: str = "a condition",
             interval: float = 0.05) -> T:
    """Call check until it returns something truthy, and return that; fail after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def redis_broker_url() -> str:
    """The Celery broker URL when it is Redis (tests that start real worker processes need
    one they can share), else ""."""
    from django.conf import settings

    url: str = settings.CELERY_BROKER_URL
    return url if url.startswith("redis://") else ""

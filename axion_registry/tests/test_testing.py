"""The shared concurrency helper: it really races, and it hides no failure."""

from __future__ import annotations

import functools
import threading
import time

import pytest
from django.db import connection

from axion_registry.testing import StillRunning, run_concurrently


def test_it_returns_every_result_in_the_order_of_the_callables():
    def square(i: int) -> int:
        time.sleep(0.01 * (5 - i))  # finish in reverse order
        return i * i

    assert run_concurrently([functools.partial(square, i) for i in range(5)]) == [
        0, 1, 4, 9, 16]


def test_it_runs_them_at_the_same_time():
    """Each callable waits for all the others: run one after another, the first would wait
    forever (here: until the inner barrier's timeout breaks it)."""
    meeting = threading.Barrier(6, timeout=10)
    threads: set[int] = set()

    def meet() -> int:
        threads.add(threading.get_ident())
        return meeting.wait()

    arrivals = run_concurrently([meet] * 6, timeout=20)
    assert sorted(arrivals) == list(range(6))
    assert len(threads) == 6


def test_it_fails_when_one_raises_and_reports_every_failure():
    def ok() -> str:
        return "ok"

    def boom(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ExceptionGroup) as caught:
        run_concurrently([ok, functools.partial(boom, "first"), ok,
                          functools.partial(boom, "second")])
    assert [str(e) for e in caught.value.exceptions] == ["first", "second"]
    assert all(isinstance(e, ValueError) for e in caught.value.exceptions)


def test_it_waits_for_the_others_before_it_raises():
    finished: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        finished.append("slow")

    def boom() -> None:
        raise ValueError("early")

    with pytest.raises(ExceptionGroup):
        run_concurrently([slow, boom])
    assert finished == ["slow"]


def test_it_can_return_exceptions_in_place_of_results():
    def boom() -> None:
        raise KeyError("gone")

    first, second = run_concurrently([lambda: 1, boom], return_exceptions=True)
    assert first == 1
    assert isinstance(second, KeyError)


def test_it_gives_up_after_the_timeout():
    release = threading.Event()

    def stuck() -> None:
        release.wait(30)

    started = time.monotonic()
    try:
        with pytest.raises(StillRunning, match=r"callables \[1\] still running after 0.5 s"):
            run_concurrently([lambda: None, stuck], timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - started < 5


def test_a_timeout_still_shows_what_raised_meanwhile():
    release = threading.Event()

    def boom() -> None:
        raise ValueError("the cause")

    def waits_for_boom() -> None:
        release.wait(30)  # e.g. for an event that `boom` would have set

    try:
        with pytest.raises(StillRunning) as caught:
            run_concurrently([boom, waits_for_boom], timeout=0.5)
    finally:
        release.set()
    cause = caught.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    assert [str(e) for e in cause.exceptions] == ["the cause"]


@pytest.mark.django_db(transaction=True)
def test_each_thread_closes_its_database_connections(monkeypatch):
    """On SQLite's in-memory test database Django ignores close(); count the calls."""
    from django.db import connections

    closed: list[int] = []
    close_all = connections.close_all

    def spy() -> None:
        closed.append(threading.get_ident())
        close_all()

    monkeypatch.setattr(connections, "close_all", spy)

    def query() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return threading.get_ident()

    idents = run_concurrently([query] * 3)
    assert sorted(closed) == sorted(idents)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_thread_leaves_a_postgresql_connection_open():
    from django.db import connections

    used = []

    def query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        used.append(connections["default"])  # this thread's own wrapper

    run_concurrently([query] * 3)
    assert len({id(c) for c in used}) == 3
    assert all(c.connection is None for c in used)

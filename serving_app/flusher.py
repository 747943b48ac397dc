"""The periodic thread in each serving process that writes its latency minutes.

Aggregates live in the process that served the requests, so a Celery beat task could not
reach them: each process flushes its own every SERVING_FLUSH_SECONDS (and once at exit),
then runs the guardrail over the versions it saw.
"""

from __future__ import annotations

import atexit
import logging
import threading

from django.db import close_old_connections, connection

from serving_app import services

logger = logging.getLogger(__name__)


def flush(runtime) -> list[int]:
    """Drain the runtime's minute histograms into the database, then apply the guardrail."""
    snapshot = runtime.recorder.drain()
    if not snapshot:
        return []
    try:
        version_ids = services.latency_flush(snapshot=snapshot)
    except Exception:
        runtime.recorder.restore(snapshot)
        raise
    services.guardrail_check(version_ids=version_ids)
    return version_ids


class Flusher(threading.Thread):
    def __init__(self, runtime, interval: float):
        super().__init__(name="serving-flush", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.flush_once()
            self.preload_once()

    def preload_once(self) -> None:
        try:
            self.runtime.preload_production()
        except Exception:
            logger.exception("could not check what production needs loaded; will retry")
        finally:
            connection.close()

    def flush_once(self) -> None:
        try:
            close_old_connections()
            flush(self.runtime)
        except Exception:
            logger.exception("could not flush serving latency; will retry")
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()


def start_flusher(runtime, interval: float) -> Flusher:
    flusher = Flusher(runtime, interval)
    flusher.start()
    atexit.register(flusher.flush_once)
    return flusher

# gthread workers: a few threads per process, keep-alive connections, no per-request fork.
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 30
timeout = 60
accesslog = None

# serving_app: prometheus_client multiprocess mode, so /metrics from any worker covers all
# of them. Each server start gets a fresh folder unless PROMETHEUS_MULTIPROC_DIR is given.
# Accepted sockets inherit TCP_NODELAY from gunicorn's listener (no Nagle stalls).
_own_prometheus_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_prometheus_dir:
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="axion-prometheus-")


def on_starting(server: Arbiter) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def post_worker_init(worker: Worker) -> None:
    # Load and warm every production version before this worker's first request.
    from django.conf import settings

    if settings.SERVING_PRELOAD:
        from django.db import connections

        from serving_app.runtime import get_runtime

        try:
            get_runtime().preload_production()
        except Exception:  # the database may be away: serve anyway, load on demand
            worker.log.exception("could not preload production; loading on demand")
        finally:
            # This thread serves no request: its connection goes back (to the pool, which
            # would otherwise lose one of DATABASE_POOL_MAX_SIZE for the worker's life).
            connections.close_all()


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Arbiter) -> None:
    if _own_prometheus_dir:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

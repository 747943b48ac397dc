# gthread workers: a few threads per process, keep-alive connections, no per-request fork.
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 30
timeout = 60
accesslog = None

"""Settings, all read from the environment. Every knob is in this file."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


VAR_DIR = Path(env("AXION_VAR_DIR", str(BASE_DIR / "var")))
SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "axion_registry",
    "models_app",
    "experiments_app",
    "abtest_app",
    "serving_app",
    "mlflow_app",
    "webhooks_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "axion_registry.middleware.DependencyErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "axion_registry.urls"
WSGI_APPLICATION = "axion_registry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'axion.sqlite3'}"), conn_max_age=600
    )
}
# PostgreSQL connections per process: a psycopg pool of at most DATABASE_POOL_MAX_SIZE
# shared by the process's threads, which wait up to DATABASE_POOL_TIMEOUT seconds for one
# (0: no pool, one kept connection per thread instead). The whole deployment holds at most
# hosts x (gunicorn workers + Celery pool processes + beat) x that many; docs/production.md
# sizes it against max_connections.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 4)
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 0)
DATABASE_POOL_TIMEOUT = float(env("DATABASE_POOL_TIMEOUT", "10"))
DATABASE_POOL_MAX_IDLE = float(env("DATABASE_POOL_MAX_IDLE", "60"))
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A server that does not answer fails the request in seconds (503), not minutes; a
    # restarted one costs no failed request: a kept or pooled connection is checked before
    # it is used again.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 3)
    if DATABASE_POOL_MAX_SIZE > 0:
        # A pooled connection goes back to the pool after each request (Django refuses
        # CONN_MAX_AGE with a pool).
        _options["pool"] = {
            "min_size": min(DATABASE_POOL_MIN_SIZE, DATABASE_POOL_MAX_SIZE),
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
            "max_idle": DATABASE_POOL_MAX_IDLE,
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 600
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS: list[dict] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = True  # admin and Swagger UI assets served without collectstatic

# Artifacts go through Django's storage API: the local folder, or an S3-compatible bucket with
# ARTIFACT_STORAGE_BACKEND=storages.backends.s3.S3Storage and django-storages' own AWS_*
# settings below (credentials as boto3 reads them: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, AWS_PROFILE, an instance role).
LOCAL_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
ARTIFACT_STORAGE_BACKEND = env("ARTIFACT_STORAGE_BACKEND", LOCAL_STORAGE_BACKEND)
ARTIFACT_ROOT = Path(env("ARTIFACT_ROOT", str(VAR_DIR / "artifacts")))
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None  # None: AWS itself
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME") or None
AWS_LOCATION = env("AWS_LOCATION")  # a key prefix inside the bucket
# A version's paths are fixed, so a save replaces a leftover file rather than renaming.
AWS_S3_FILE_OVERWRITE = True
# S3File reads spool to a temporary file past this size (django-storages' default 0 keeps a
# whole object in memory). Uploads go through boto3's managed transfer: multipart above 8 MiB.
AWS_S3_MAX_MEMORY_SIZE = env_int("AWS_S3_MAX_MEMORY_SIZE", 8 * 1024**2)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "artifacts": {
        "BACKEND": ARTIFACT_STORAGE_BACKEND,
        "OPTIONS": {"location": str(ARTIFACT_ROOT), "allow_overwrite": True}
        if ARTIFACT_STORAGE_BACKEND == LOCAL_STORAGE_BACKEND
        else {},
    },
}
# Each host keeps the artifacts it loads in a folder keyed by sha256, shared by its processes
# (file locks: one download per artifact per host), verified on every use and trimmed
# least-recently-used to stay under the bound.
ARTIFACT_CACHE_DIR = Path(env("ARTIFACT_CACHE_DIR", str(VAR_DIR / "artifact-cache")))
ARTIFACT_CACHE_MAX_BYTES = env_int("ARTIFACT_CACHE_MAX_BYTES", 10 * 1024**3)
MAX_ARTIFACT_BYTES = env_int("MAX_ARTIFACT_BYTES", 2 * 1024**3)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # larger uploads spool to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024**2)

# Pickle is code execution: a pickle or joblib artifact may import only the exact (module,
# qualified name) pairs of models_app.safe_pickle.allowlist, the operator's extras
# (module:qualname,...) and classes defined in the platform's own model packages.
PICKLE_EXTRA_GLOBALS = env_list("PICKLE_EXTRA_GLOBALS")
for _item in PICKLE_EXTRA_GLOBALS:
    if _item.count(":") != 1 or _item.startswith(":") or _item.endswith(":"):
        raise ImproperlyConfigured(
            f"PICKLE_EXTRA_GLOBALS: {_item!r} is not module:qualname (e.g. mypkg.models:Ranker)"
        )
PLATFORM_MODEL_PACKAGE = env_list("PLATFORM_MODEL_PACKAGE", "src.ml")
# The platform's own model package (pickles that reference src.ml... classes) is importable
# from these folders when a model is loaded.
PLATFORM_MODEL_PATHS = env_list("PLATFORM_MODEL_PATHS")
# The load check: each registered version is loaded and exercised in a fresh process.
LOAD_CHECK_TIMEOUT_SECONDS = env_int("LOAD_CHECK_TIMEOUT_SECONDS", 300)

# A token's user is cached this long per process (a revoked token works at most this long).
TOKEN_CACHE_SECONDS = env_int("TOKEN_CACHE_SECONDS", 10)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "axion_registry.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["axion_registry.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "axion_registry.parsers.ORJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "axion_registry.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "axion_registry.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Axion Model Registry API",
    "DESCRIPTION": "Model registry, lifecycle, experiment tracking, A/B testing and serving.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operations grouped by resource with summaries for their users (axion_registry.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "axion_registry.schema.group_and_summarise",
    ],
    "SWAGGER_UI_SETTINGS": {"docExpansion": "none", "filter": True},
    "ENUM_NAME_OVERRIDES": {
        # Vocabulary enums are not Django Choices: name their (value, label) pairs.
        "StageEnum": "models_app.choices.Stage.choices",
        "MetricDirectionEnum": "abtest_app.choices.Direction.choices",
        "MetricTypeEnum": "abtest_app.choices.MetricType.choices",
        "PromotionRequestStatusEnum": "models_app.choices.PromotionRequestStatus",
        "RunStatusEnum": "experiments_app.choices.RunStatus",
    },
}

# Where the front door and the admin send people for the Streamlit dashboard.
DASHBOARD_URL = env("DASHBOARD_URL", "http://127.0.0.1:8501")

CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "") or None
# Work that must happen survives a dead worker: acknowledged only when done, handed back to
# the queue at once when the pool process running it dies, and stopped by a time limit. A
# message held by a worker that died whole (SIGKILL, a host gone) is put back by a living
# worker's sweep once it is older than the visibility timeout (longer than any task's time
# limit, or a slow task would run twice): kombu sweeps every CELERY_UNACKED_RESTORE_SECONDS
# x CELERY_UNACKED_RESTORE_THROTTLE seconds (its defaults: 10 x 10).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT),
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Load checks take seconds each (a fresh interpreter per version): their own queue, so they
# never delay a warm-up or an A/B evaluation. Workers consume both: -Q celery,loadcheck.
LOAD_CHECK_QUEUE = env("LOAD_CHECK_QUEUE", "loadcheck")
CELERY_TASK_ROUTES = {"serving_app.tasks.version_load_check": {"queue": LOAD_CHECK_QUEUE}}
# Each host (one machine: its gunicorn, its Celery workers and its artifact cache) has a
# name, and a warm-up queue of its own that every worker of the host consumes besides -Q
# (serving_app.worker_hooks): a deployment is warmed once on each host, by one of its
# workers, and a message for a host that is down waits in its queue until it returns.
AXION_HOST_NAME = env("AXION_HOST_NAME") or socket.gethostname()
SERVING_WARMUP_QUEUE_PREFIX = env("SERVING_WARMUP_QUEUE_PREFIX", "warmup.")
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("celery", LOAD_CHECK_QUEUE, SERVING_WARMUP_QUEUE_PREFIX + AXION_HOST_NAME)
]
# A host's workers note it alive at start and about every SERVING_HOST_HEARTBEAT_SECONDS;
# a deployment is planned for the hosts seen within SERVING_HOST_TTL_SECONDS. A host not
# seen for that long has its pending warm-ups marked "missed"; it warms the production
# versions when it returns.
SERVING_HOST_HEARTBEAT_SECONDS = env_int("SERVING_HOST_HEARTBEAT_SECONDS", 30)
SERVING_HOST_TTL_SECONDS = env_int("SERVING_HOST_TTL_SECONDS", 180)
ABTEST_EVALUATION_SECONDS = env_int("ABTEST_EVALUATION_SECONDS", 300)
# A host's warm-up not finished this long after it was (or should have been) enqueued is
# handed to its queue again, up to SERVING_WARMUP_MAX_ATTEMPTS starts; then it has failed.
SERVING_RECONCILE_SECONDS = env_int("SERVING_RECONCILE_SECONDS", 30)
SERVING_WARMUP_DEADLINE_SECONDS = env_int("SERVING_WARMUP_DEADLINE_SECONDS", 60)
SERVING_WARMUP_MAX_ATTEMPTS = env_int("SERVING_WARMUP_MAX_ATTEMPTS", 5)
# Metric retention (experiments_app.tasks): runs ended more than METRIC_RETENTION_DAYS ago
# lose their raw metric points, keeping their pyramid (0: raw points are kept forever).
# Off: metric logging commits without waiting for PostgreSQL's WAL flush (about 2x the
# points/s on a slow disk; a database crash may lose the last ~0.6 s of acknowledged points).
METRIC_SYNCHRONOUS_COMMIT = env_bool("METRIC_SYNCHRONOUS_COMMIT", True)
METRIC_RETENTION_DAYS = env_int("METRIC_RETENTION_DAYS", 0)
METRIC_RETENTION_RUNS_PER_PASS = env_int("METRIC_RETENTION_RUNS_PER_PASS", 100)
METRIC_RETENTION_SECONDS = env_int("METRIC_RETENTION_SECONDS", 3600)
CELERY_BEAT_SCHEDULE = {
    "abtest-evaluate-running": {
        "task": "abtest_app.tasks.abtest_evaluate_running",
        "schedule": float(ABTEST_EVALUATION_SECONDS),
    },
    "deployment-reconcile": {
        "task": "serving_app.tasks.deployment_reconcile",
        "schedule": float(SERVING_RECONCILE_SECONDS),
    },
    "webhook-deliveries-due": {
        "task": "webhooks_app.tasks.webhook_deliveries_due",
        "schedule": float(env_int("WEBHOOK_SWEEP_SECONDS", 60)),
    },
    "metrics-compact-finished": {
        "task": "experiments_app.tasks.metrics_compact_finished",
        "schedule": float(METRIC_RETENTION_SECONDS),
    },
}

# Webhooks (webhooks_app, docs/webhooks.md). A delivery is tried up to WEBHOOK_MAX_ATTEMPTS
# times, waiting about WEBHOOK_BACKOFF_SECONDS * 2^(n-1) (jittered, at most
# WEBHOOK_BACKOFF_MAX_SECONDS) after the n-th failure; beat re-enqueues any overdue by
# WEBHOOK_SWEEP_SECONDS. URLs must resolve to public addresses, except these networks
# (CIDRs, e.g. 10.0.0.0/8 for an internal receiver; tests allow 127.0.0.1/32).
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS")
WEBHOOK_TIMEOUT_SECONDS = float(env("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 5)
WEBHOOK_BACKOFF_SECONDS = float(env("WEBHOOK_BACKOFF_SECONDS", "10"))
WEBHOOK_BACKOFF_MAX_SECONDS = float(env("WEBHOOK_BACKOFF_MAX_SECONDS", "600"))
WEBHOOK_SWEEP_SECONDS = env_int("WEBHOOK_SWEEP_SECONDS", 60)
# Seals webhook secrets at rest; empty means SECRET_KEY (changing it makes stored secrets
# unreadable: their deliveries fail saying so until the secret is set again).
WEBHOOK_SECRET_KEY = env("WEBHOOK_SECRET_KEY", "")

# Redis for cross-process signals (deployment generation); empty means database only.
REDIS_URL = env("REDIS_URL", "")

# Serving (serving_app). Every gunicorn process keeps its own model cache and notices new
# production versions by a generation check (Redis when REDIS_URL is set, else the database).
SERVING_CACHE_MAX_MODELS = env_int("SERVING_CACHE_MAX_MODELS", 16)
SERVING_CACHE_MAX_BYTES = env_int("SERVING_CACHE_MAX_BYTES", 2 * 1024**3)
SERVING_GENERATION_CHECK_MS = env_int("SERVING_GENERATION_CHECK_MS", 500)
SERVING_ROUTE_REFRESH_SECONDS = env_int("SERVING_ROUTE_REFRESH_SECONDS", 30)
SERVING_PRELOAD = env_bool("SERVING_PRELOAD", True)  # each gunicorn worker, at start
SERVING_GC_FREEZE = env_bool("SERVING_GC_FREEZE", True)  # loaded models out of the GC's sight
# While the swap thread builds a route: the interpreter's switch interval (0: leave its 5 ms),
# a pause before the new route takes traffic (0: none), and the Celery producer set up at
# start. bench/serving.py --broker redis://... with each at 0 / off (README, Serving).
SERVING_SWAP_SWITCH_INTERVAL_US = env_int("SERVING_SWAP_SWITCH_INTERVAL_US", 200)
SERVING_SWAP_SETTLE_MS = env_int("SERVING_SWAP_SETTLE_MS", 10)
SERVING_WARM_PUBLISHER = env_bool("SERVING_WARM_PUBLISHER", True)

SERVING_DEFAULT_TIMEOUT_MS = env_int("SERVING_DEFAULT_TIMEOUT_MS", 0)  # 0: no timeout
SERVING_FLUSH_SECONDS = env_int("SERVING_FLUSH_SECONDS", 10)  # 0: no flush thread
SERVING_GUARDRAIL_WINDOW_MINUTES = env_int("SERVING_GUARDRAIL_WINDOW_MINUTES", 5)
SERVING_GUARDRAIL_MIN_REQUESTS = env_int("SERVING_GUARDRAIL_MIN_REQUESTS", 50)
SERVING_GUARDRAIL_MAX_FAILURE_RATE = float(env("SERVING_GUARDRAIL_MAX_FAILURE_RATE", "0.2"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

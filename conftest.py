"""Fixtures shared by every app's tests: named users, API clients, artifact storage, Celery."""

from __future__ import annotations

import io
import os
import pickle

# Tests default to Celery's in-memory broker with a real in-process worker; CI's second run
# sets CELERY_BROKER_URL to Redis.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
# On PostgreSQL the tests use a connection pool too, large enough for their racing threads
# (each holds its connection until it ends).
os.environ.setdefault("DATABASE_POOL_MAX_SIZE", "24")

import pytest  # noqa: E402

pytest_plugins = ("celery.contrib.pytest",)


DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences",
                     "django_db_serialized_rollback", "live_server"}
SERVICE_WORDS = ("redis", "celery", "broker")


def _needs_no_service(item, sources: dict) -> bool:
    """A test with no database and no mention of the broker in its file: the leg's services
    cannot change its outcome, so CI runs it in the defaults leg only (marker own_services)."""
    from django.test import TransactionTestCase

    if item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames):
        return False
    if getattr(item, "cls", None) is not None and issubclass(item.cls, TransactionTestCase):
        return False
    path = str(item.path)
    if path not in sources:
        sources[path] = item.path.read_text().lower()
    return not any(word in sources[path] for word in SERVICE_WORDS)


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI's second run does)")
    sources: dict[str, str] = {}
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
        if _needs_no_service(item, sources):
            item.add_marker(pytest.mark.own_services)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix,
                                 tmp_path_factory):
    """SQLite's test database is a file, not Django's shared-cache memory database: there a
    reader meets "table is locked" at once while a worker thread writes, where a file in WAL
    mode lets it read beside the writer (as the deployed database does)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("database") / "test.sqlite3")


@pytest.fixture(autouse=True)
def fresh_token_cache():
    """Each test starts with an empty per-process token cache."""
    from axion_registry.authentication import forget_tokens

    forget_tokens()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Named users get passwords; PBKDF2 would cost about 0.3 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


S3_BACKEND = "storages.backends.s3.S3Storage"
# The bucket leg (`ARTIFACT_STORAGE_BACKEND=storages.backends.s3.S3Storage pytest -m artifacts`,
# see .ci/run): every test's artifacts go to a moto server started once for the session.
ARTIFACTS_IN_BUCKET = os.environ.get("ARTIFACT_STORAGE_BACKEND") == S3_BACKEND


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory):
    """A real S3 wire-protocol server (moto's standalone server) on a free loopback port, with
    one bucket; boto3 finds its credentials in the environment, as in production."""
    from axion_registry.moto_s3 import MotoS3

    server = MotoS3(log=tmp_path_factory.mktemp("moto") / "requests.log").start()
    server.bucket = "axion-test"
    server.create_bucket(server.bucket)
    saved = {name: os.environ.get(name) for name in server.environment(server.bucket)}
    os.environ.update({name: value for name, value in server.environment(server.bucket).items()
                       if name.startswith("AWS_") and "KEY" in name})
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


def use_bucket(settings, server, prefix: str) -> str:
    """Point the artifact storage at the moto bucket, under a key prefix of the test's own."""
    settings.AWS_STORAGE_BUCKET_NAME = server.bucket
    settings.AWS_S3_ENDPOINT_URL = server.endpoint
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_LOCATION = prefix
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": S3_BACKEND, "OPTIONS": {"location": prefix}},
    }
    return prefix


@pytest.fixture(autouse=True)
def artifact_root(request, tmp_path, settings):
    """Every test gets its own artifact folder (a key prefix in the bucket leg) and its own
    host artifact cache."""
    import uuid

    settings.ARTIFACT_CACHE_DIR = tmp_path / "artifact-cache"
    root = tmp_path / "artifacts"
    root.mkdir()
    settings.ARTIFACT_ROOT = root
    if ARTIFACTS_IN_BUCKET:
        use_bucket(settings, request.getfixturevalue("moto_s3"), f"t-{uuid.uuid4().hex}")
        return root
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "allow_overwrite": True},
        },
    }
    return root


class StoredFiles:
    """The artifact storage as tests see it, through the storage API only (a folder or a
    bucket alike)."""

    def __init__(self):
        from models_app.artifacts import artifact_storage

        self.storage = artifact_storage()

    def names(self, folder: str = "") -> list[str]:
        found, pending = [], [folder]
        while pending:
            current = pending.pop()
            try:
                dirs, files = self.storage.listdir(current)
            except FileNotFoundError:
                continue
            prefix = f"{current}/" if current else ""
            found += [prefix + name for name in files]
            pending += [prefix + name for name in dirs]
        return sorted(found)

    def named(self, filename: str) -> list[str]:
        return [name for name in self.names() if name.rsplit("/", 1)[-1] == filename]

    def read(self, name: str) -> bytes:
        with self.storage.open(name, "rb") as stream:
            return stream.read()

    def write(self, name: str, data: bytes) -> None:
        from django.core.files.base import ContentFile

        if self.storage.exists(name):
            self.storage.delete(name)
        self.storage.save(name, ContentFile(data))

    def size(self, name: str) -> int:
        return self.storage.size(name)


@pytest.fixture
def storage_files(artifact_root):
    return StoredFiles()


@pytest.fixture
def bucket(request, settings, artifact_root, moto_s3):
    """This test's artifacts in the moto bucket whatever the leg; the server, with `.prefix`."""
    import uuid

    moto_s3.prefix = use_bucket(settings, moto_s3, f"t-{uuid.uuid4().hex}")
    return moto_s3


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str, *, release_manager: bool = False, superuser: bool = False,
             publisher: bool = False):
        from models_app.roles import model_publishers
        from models_app.services import release_managers

        user = django_user_model.objects.create_user(
            username=username, password="pw", is_staff=release_manager or superuser,
            is_superuser=superuser,
        )
        if release_manager:
            user.groups.add(release_managers())
        if publisher:
            user.groups.add(model_publishers())
        return user

    return make


@pytest.fixture
def researcher(make_user):
    return make_user("rita_researcher")


@pytest.fixture
def release_manager(make_user):
    return make_user("max_release", release_manager=True)


@pytest.fixture
def second_release_manager(make_user):
    """The other pair of eyes for four-eyes promotion."""
    return make_user("rosa_release", release_manager=True)


@pytest.fixture
def owner(make_user):
    """Owns models made for the roles tests (not `ranking`, the researcher's)."""
    return make_user("olga_owner")


@pytest.fixture
def publisher(make_user):
    """In the "model publishers" group: registers versions of any model."""
    return make_user("paul_publisher", publisher=True)


def _client_for(user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def api(researcher):
    """An API client authenticated as a researcher (owns `ranking`; may not promote)."""
    return _client_for(researcher)


@pytest.fixture
def manager_api(release_manager):
    """An API client authenticated as a release manager (may promote and roll back)."""
    return _client_for(release_manager)


@pytest.fixture
def anon_api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def sklearn_model():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    return LogisticRegression().fit(features, labels)


@pytest.fixture(scope="session")
def sklearn_pickle(sklearn_model) -> bytes:
    return pickle.dumps(sklearn_model)


@pytest.fixture
def artifact_file(sklearn_pickle):
    def make(content: bytes | None = None, name: str = "model.pkl"):
        stream = io.BytesIO(sklearn_pickle if content is None else content)
        stream.name = name
        return stream

    return make


@pytest.fixture
def registered_model(db, researcher):
    """`ranking`, owned by the researcher: she registers and submits its versions."""
    from models_app.services import model_create

    # The load check runs in a worker; tests of other behaviour promote without one
    # (serving_app/tests/test_load_check.py keeps the default gate on).
    return model_create(name="ranking", description="Stock ranking",
                        gates={"load_check": False}, owner=researcher)


@pytest.fixture
def register_version(registered_model, sklearn_pickle):
    """Register a version of `ranking` (or another model) through the service."""
    from models_app.services import version_register
    from models_app.vocabulary import ArtifactFormat, Framework

    def register(version: str | None = None, *, model_name: str = "ranking", **fields):
        fields.setdefault("framework", Framework.SKLEARN)
        fields.setdefault("artifact_format", ArtifactFormat.PICKLE)
        fields.setdefault("metrics", {"auc": 0.75})
        artifact = fields.pop("artifact", None) or io.BytesIO(sklearn_pickle)
        return version_register(model_name=model_name, artifact=artifact, version=version,
                                **fields)

    return register


@pytest.fixture
def celery_app():
    """The project's own Celery app, for celery.contrib.pytest's real `celery_worker`."""
    from axion_registry.celery import app

    return app


@pytest.fixture
def celery_worker_parameters():
    # No result backend is configured, so the worker's ping round-trip cannot be awaited.
    return {"perform_ping_check": False, "shutdown_timeout": 20.0}


@pytest.fixture
def demo_platform(settings):
    """The demo's stand-in platform package (demo/platform/src/ml) importable here and in
    serving; sys.path and the `src` modules are put back afterwards, so tests that build
    their own `src` package still find theirs."""
    import sys

    from demo import training

    saved_path = list(sys.path)
    saved = {name: module for name, module in sys.modules.items()
             if name == "src" or name.startswith("src.")}
    for name in saved:
        del sys.modules[name]
    settings.PLATFORM_MODEL_PATHS = [str(training.PLATFORM_PATH)]
    yield training.platform_classes()
    sys.path[:] = saved_path
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    sys.modules.update(saved)

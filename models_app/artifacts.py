"""The one place that writes, reads and verifies artifact files, through Django storage.

Layout: <ARTIFACT_ROOT>/<model>/<version>/<artifact file> and metadata.json beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import orjson
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

from axion_registry.renderers import dumps
from models_app.errors import StorageUnavailable
from models_app.integrity import sha256_stream

SIDECAR = "metadata.json"


def artifact_storage() -> Storage:
    return storages["artifacts"]


def version_folder(model_name: str, version: str) -> str:
    return f"{model_name}/{version}"


def artifact_save(name: str, stream: IO[bytes]) -> str:
    stream.seek(0)
    with storage_errors("store", name):
        return artifact_storage().save(name, File(stream, name=name.rsplit("/", 1)[-1]))


@contextmanager
def storage_errors(action: str, name: str) -> Iterator[None]:
    """A storage that fails (a full or missing disk, a bucket that does not answer) is a 503
    the caller can retry; nothing half-written is kept by the callers' cleanup."""
    try:
        yield
    except FileNotFoundError:
        raise
    except Exception as exc:  # OSError locally; botocore's errors from a bucket
        if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] not in (
                "botocore", "boto3", "urllib3"):
            raise
        raise StorageUnavailable(
            f"The artifact storage could not {action} {name} ({type(exc).__name__}: {exc}); "
            "nothing was registered. Try again once the storage answers."
        ) from exc


def artifact_delete(name: str) -> None:
    storage = artifact_storage()
    if storage.exists(name):
        storage.delete(name)


def artifact_open(name: str) -> IO[bytes]:
    return artifact_storage().open(name, "rb")


def artifact_exists(name: str) -> bool:
    return artifact_storage().exists(name)


def artifact_sha256(name: str) -> str:
    with artifact_open(name) as stream:
        return sha256_stream(stream)[0]


def sidecar_write(folder: str, metadata: dict[str, Any]) -> str:
    content = dumps(metadata, pretty=True)
    with storage_errors("store", f"{folder}/{SIDECAR}"):
        return artifact_storage().save(f"{folder}/{SIDECAR}", ContentFile(content))


def sidecar_read(folder: str) -> dict[str, Any]:
    with artifact_open(f"{folder}/{SIDECAR}") as stream:
        return orjson.loads(stream.read())


SIGNATURE_BUNDLE = "model.sig"


def signature_save(folder: str, bundle: bytes) -> str:
    """Store a model-signing bundle beside the version's artifact; its storage name."""
    with storage_errors("store", f"{folder}/{SIGNATURE_BUNDLE}"):
        return artifact_storage().save(f"{folder}/{SIGNATURE_BUNDLE}", ContentFile(bundle))


def signature_read(name: str) -> bytes:
    with artifact_open(name) as stream:
        return stream.read()

"""The one place that writes, reads and verifies artifact files, through Django storage.

Layout: <ARTIFACT_ROOT or the bucket>/<model>/<version>/<artifact file> and metadata.json
beside it. Nothing here asks the storage for a filesystem path: a bucket has none. Whatever
loads an artifact takes it from the host's cache (artifact_cached), downloaded once per host.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

from axion_registry.renderers import dumps
from models_app.artifact_cache import ArtifactCache, CachedArtifact
from models_app.errors import StorageUnavailable
from models_app.integrity import CHUNK, sha256_stream

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
        kept = "; nothing was registered" if action == "store" else ""
        raise StorageUnavailable(
            f"The artifact storage could not {action} {name} ({type(exc).__name__}: "
            f"{exc}){kept}. Try again once the storage answers."
        ) from exc


def artifact_delete(name: str) -> None:
    storage = artifact_storage()
    if storage.exists(name):
        storage.delete(name)


def artifact_open(name: str) -> IO[bytes]:
    return artifact_storage().open(name, "rb")


def artifact_exists(name: str) -> bool:
    return artifact_storage().exists(name)


def host_cache() -> ArtifactCache:
    return ArtifactCache(Path(settings.ARTIFACT_CACHE_DIR), settings.ARTIFACT_CACHE_MAX_BYTES)


def artifact_download(name: str, target: IO[bytes]) -> None:
    """Copy a stored file into `target`, in order, never whole in memory."""
    with artifact_open(name) as stream:
        # A bucket's file: boto3's managed download (ranged parts, written in order to a
        # target that is not seekable) rather than S3File's own copy to a temporary file.
        s3_object = getattr(stream, "obj", None)
        if s3_object is not None and hasattr(s3_object, "download_fileobj"):
            s3_object.download_fileobj(
                target, Config=getattr(artifact_storage(), "transfer_config", None))
        else:
            shutil.copyfileobj(stream, target, CHUNK)


def artifact_cached(name: str, sha256: str) -> CachedArtifact:
    """The stored file `name` as an open file of this host's cache, verified against its
    sha256 (models_app.artifact_cache); raises ArtifactMismatch when the stored bytes differ,
    FileNotFoundError when the storage has no such file."""
    with storage_errors("read", name):
        return host_cache().open(sha256, lambda target: artifact_download(name, target))


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

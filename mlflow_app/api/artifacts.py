"""MLflow's proxied artifact service (/api/2.0/mlflow-artifacts/artifacts/...) on Axion's
artifact storage. A run's artifact URI is `mlflow-artifacts:/runs/<run_id>`, so a path here
is the storage name Axion's own API uses for the same file (runs/<run_id>/<path>); a logged
model's is `mlflow-artifacts:/experiments/<id>/models/<model_id>/artifacts`, stored under the
same name.

Uploads stream from the request into storage in chunks and downloads stream out of it:
no file is ever whole in memory. Paths that could leave the run's folder are refused.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase

from experiments_app import selectors as tracking
from experiments_app import services as tracking_services
from experiments_app.errors import RunArtifactTooLarge
from experiments_app.selectors.artifacts import run_artifact_name
from mlflow_app import logged_selectors, logged_services, selectors
from mlflow_app.api.dispatch import Call, endpoint
from mlflow_app.errors import NOT_IMPLEMENTED, MlflowError, invalid, not_found
from models_app import artifacts


class UploadStream:
    """The request body as a file for Django storage: read in chunks, never past
    Content-Length nor MAX_ARTIFACT_BYTES."""

    def __init__(self, request: HttpRequest, size: int, limit: int) -> None:
        self.request = request
        self.size = size
        self.limit = limit
        self.read_so_far = 0

    def read(self, count: int = -1) -> bytes:
        left = self.size - self.read_so_far
        if left <= 0:
            return b""
        chunk = self.request.read(left if count is None or count < 0 else min(count, left))
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise RunArtifactTooLarge(f"The upload is over the limit of {self.limit} bytes.")
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0 or self.read_so_far:
            raise OSError("An upload stream cannot seek.")
        return 0

    def tell(self) -> int:
        return self.read_so_far

    # What Django's File and boto3's managed upload ask of a file: it reads forward only
    # (a bucket then takes it in parts, each read as it goes).
    closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _content_length(call: Call) -> int:
    length = call.request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit():
        raise invalid("Send the file with a Content-Length header (chunked uploads are not "
                      "taken).")
    size = int(length)
    limit = settings.MAX_ARTIFACT_BYTES
    if size > limit:
        raise RunArtifactTooLarge(
            f"The file is {size} bytes, over the limit of {limit} bytes (MAX_ARTIFACT_BYTES)."
        )
    return size


def _upload(call: Call, path: str) -> dict[str, Any]:
    if _is_logged_model(path):
        return _logged_model_upload(call, path)
    run, relative = selectors.artifact_run(path)
    if not relative:
        raise invalid("Give the file's path inside the run: runs/<run_id>/<path>.")
    selectors.run_require_active(run.run_id)
    size = _content_length(call)
    stream = UploadStream(call.request, size, settings.MAX_ARTIFACT_BYTES)
    tracking_services.run_artifact_save(
        run=run, path=relative, stream=stream,  # type: ignore[arg-type]
        size=size, actor=call.user,
    )
    _require_complete(stream, size, run_artifact_name(run.run_id, relative))
    return {}


def _require_complete(stream: UploadStream, size: int, name: str) -> None:
    if stream.read_so_far != size:  # the client went away mid-upload: keep no torn file
        artifacts.artifact_delete(name)
        raise invalid(f"The upload ended after {stream.read_so_far} of {size} bytes.")


def _is_logged_model(path: str) -> bool:
    return path.strip("/").startswith("experiments/")


def _logged_model_upload(call: Call, path: str) -> dict[str, Any]:
    """A file of a logged model (the client's log_model uploads its MLflow model folder),
    while the model is PENDING and by the user who logged it."""
    model, relative = logged_selectors.logged_model_at(path)
    if not relative:
        raise invalid("Give the file's path inside the logged model's artifacts.")
    if model.deleted_at is not None:
        raise invalid(f"The logged model {model.model_id} is deleted.")
    logged_services.require_files_writable(model, call.user)
    size = _content_length(call)
    stream = UploadStream(call.request, size, settings.MAX_ARTIFACT_BYTES)
    name = f"{model.artifact_root}/{relative}"
    artifacts.artifact_save(name, stream)  # type: ignore[arg-type]
    _require_complete(stream, size, name)
    return {}


def _download(path: str) -> HttpResponseBase:
    if _is_logged_model(path):
        model, relative = logged_selectors.logged_model_at(path)
        name = f"{model.artifact_root}/{relative}"
        try:
            stream = artifacts.artifact_open(name) if relative else None
        except (FileNotFoundError, IsADirectoryError):
            stream = None
        if stream is None:
            raise not_found(f"The logged model {model.model_id} has no file '{relative}'.")
    else:
        run, relative = selectors.artifact_run(path)
        stream = tracking.run_artifact_open(run=run, path=relative)
    kind = mimetypes.guess_type(relative)[0] or "application/octet-stream"
    return FileResponse(stream, content_type=kind)


@endpoint("GET", "PUT", read_body=False)
def artifact_file(call: Call) -> dict[str, Any] | HttpResponseBase:
    path = call.kwargs["artifact_path"]
    if call.request.method == "PUT":
        return _upload(call, path)
    return _download(path)


@endpoint("GET")
def artifact_list(call: Call) -> dict[str, Any]:
    path = str(call.body.get("path") or "").strip("/")
    if not path:
        return {"files": [{"path": "runs", "is_dir": True}]}
    if path == "runs":
        raise invalid("List one run's artifacts: path=runs/<run_id>.")
    if _is_logged_model(path):
        model, relative = logged_selectors.logged_model_at(path)
        return {"files": logged_selectors.folder_listing(model.artifact_root, relative)}
    run, relative = selectors.artifact_run(path)
    return {"files": selectors.artifact_listing(run, relative)}


# The client's own words for "no multipart here": it falls back to one streamed PUT when
# the message starts with them (mlflow.exceptions._UnsupportedMultipartUploadException).
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"


@endpoint("POST")
def multipart_upload(call: Call) -> dict[str, Any]:
    """mpu/create, complete, abort: refused as `mlflow server` refuses them for a store
    without presigned part URLs, so the client streams the file in one PUT (never whole in
    memory) through artifact_file instead."""
    raise MlflowError(NOT_IMPLEMENTED, f"{MULTIPART_UNSUPPORTED}: Axion stores artifacts "
                      "through its own storage API; the client sends the file in one "
                      "streamed upload instead.", 501)

"""Refuse at upload what the loader would refuse at load, per artifact format.

The rules themselves are pure (models_app.safe_skops, models_app.safe_onnx); this module
gives them the settings and answers with the registry's errors. serving_app.loader runs
the same rules again before it deserializes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import IO

from django.conf import settings

from models_app import safe_onnx, safe_pickle, safe_skops
from models_app.choices import ArtifactFormat
from models_app.errors import DisallowedTypes, ExternalData, UnreadableArtifact
from models_app.pickle_rules import pickle_policy

_path_lock = threading.Lock()


def skops_is_allowed() -> safe_skops.IsAllowed:
    """The classes a skops file may name: the pickle allowlist's classes (never its
    reconstruction functions), the operator's extras and the platform's own classes."""
    policy = pickle_policy()
    return safe_skops.classes_only(lambda module, qualname: safe_pickle.is_allowed_global(
        module, qualname, policy.platform_packages, policy.extra_globals))


def skops_audit(data: bytes) -> safe_skops.SkopsAudit:
    return safe_skops.audit(data, skops_is_allowed())


def skops_refusal(audit: safe_skops.SkopsAudit) -> tuple[str, str, dict]:
    """(code, sentence, details) for a refused skops audit: one wording at upload and load."""
    if audit.error:
        return ("unreadable_artifact",
                f"The file is not a loadable skops file: {audit.error}.", {})
    listed = "; ".join(f"{name} ({audit.reasons[name]})" for name in audit.refused[:10])
    return (
        "disallowed_types",
        f"The skops file names types that are not trusted: {listed}. Only exact "
        f"scikit-learn/numpy/scipy classes and the platform's own classes "
        f"({', '.join(settings.PLATFORM_MODEL_PACKAGE)}) may be loaded; functions, methods and "
        f"operators may not.",
        {"untrusted_types": list(audit.refused), "reasons": audit.reasons},
    )


def onnx_refusal(audit: safe_onnx.OnnxAudit) -> tuple[str, str, dict]:
    if audit.error:
        return ("unreadable_artifact", f"The file is not a loadable ONNX model: {audit.error}.",
                {})
    return (
        "onnx_external_data",
        "The ONNX model keeps tensors in external files "
        f"({'; '.join(audit.external[:5])}); only self-contained models are accepted. "
        "Save it with onnx.save_model(model, path, save_as_external_data=False).",
        {"external_tensors": list(audit.external)},
    )


def _check_skops(stream: IO[bytes], size: int) -> None:
    audit = skops_audit(stream.read())
    stream.seek(0)
    if not audit.ok:
        code, message, details = skops_refusal(audit)
        error = UnreadableArtifact if audit.error else DisallowedTypes
        raise error(message, details=details or None)


def _check_onnx(stream: IO[bytes], size: int) -> None:
    audit = safe_onnx.audit(stream.read())
    stream.seek(0)
    if not audit.ok:
        code, message, details = onnx_refusal(audit)
        error = UnreadableArtifact if audit.error else ExternalData
        raise error(message, details=details or None)


CHECKS: dict[str, Callable[[IO[bytes], int], None]] = {
    ArtifactFormat.SKOPS: _check_skops,
    ArtifactFormat.ONNX: _check_onnx,
}


def artifact_check(*, artifact_format: str, stream: IO[bytes], size: int) -> None:
    """Raise a 400 error unless the upload is a loadable artifact of its declared format.

    Pickle and joblib are checked by registration's pickle check (safe-pickle's walker).
    """
    check = CHECKS.get(artifact_format)
    if check is not None:
        check(stream, size)

"""Artifact signatures: OpenSSF model-signing bundles made with an elliptic-curve key. No Django.

A bundle signs a manifest of the file's digest (a single file's entry is "." whatever its
name, so the registry may store it as model.skops). Verification is offline: the bundle
must verify against one of the model's trusted public keys and match the file's bytes.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BUNDLE_BYTES = 1024 * 1024
SUPPORTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")


class SignatureError(Exception):
    """The bundle does not prove the artifact was signed by a trusted key; says why."""


class SigningKeyError(ValueError):
    """A trusted key that is not a PEM elliptic-curve public key model-signing can use."""


def key_fingerprint(pem: str) -> str:
    """sha256 of the key's PEM SubjectPublicKeyInfo: the hint model-signing puts in bundles."""
    key = serialization.load_pem_public_key(pem.encode())
    raw = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(raw).hexdigest()


def clean_public_key(pem: str) -> str:
    """The key in canonical PEM, or SigningKeyError with a sentence saying what is wrong."""
    if not isinstance(pem, str) or "PRIVATE KEY" in pem:
        raise SigningKeyError("Give trusted keys as PEM public keys (never a private key).")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"A trusted key is not a PEM public key ({exc}).") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in SUPPORTED_CURVES:
        raise SigningKeyError("Trusted keys must be elliptic-curve keys on P-256, P-384 or P-521 "
                        "(what model_signing's key signer uses).")
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _verify_with(key: Path, model: Path, bundle: Path) -> None:
    from model_signing import verifying

    # The library prints a warning for bundles without a key hint; keep it off stdout.
    with redirect_stdout(io.StringIO()):
        verifying.Config().use_elliptic_key_verifier(public_key=key).verify(model, bundle)


def verify_file(model: Path, bundle: bytes, public_keys: Sequence[str]) -> str:
    """The fingerprint of the trusted key whose signature over `model` the bundle carries."""
    if not public_keys:
        raise SignatureError("the model has no trusted signing keys to verify against")
    if not bundle:
        raise SignatureError("the signature bundle is empty")
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise SignatureError(f"the signature bundle is over {MAX_BUNDLE_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="axion-verify-") as folder:
        bundle_path = Path(folder) / "bundle.sig"
        bundle_path.write_bytes(bundle)
        reasons = []
        for number, pem in enumerate(public_keys):
            key_path = Path(folder) / f"key-{number}.pub"
            key_path.write_text(pem)
            try:
                _verify_with(key_path, model, bundle_path)
            except Exception as exc:  # noqa: BLE001 - any failure means "not signed by this key"
                reasons.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                continue
            return key_fingerprint(pem)
    if any("Signature mismatch" in reason for reason in reasons):
        raise SignatureError("the bundle was made by a trusted key but for other file bytes "
                             "(the artifact was changed after signing, or it is another file)")
    raise SignatureError("the bundle is not a valid signature by any of the model's trusted "
                         "keys")


def verify_bytes(data: bytes, bundle: bytes, public_keys: Sequence[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="axion-artifact-") as folder:
        model = Path(folder) / "artifact"
        model.write_bytes(data)
        return verify_file(model, bundle, public_keys)


def verify_stream(stream: IO[bytes], bundle: bytes, public_keys: Sequence[str]) -> str:
    """As verify_bytes, for an upload spooled to a file; the stream is rewound after."""
    with tempfile.TemporaryDirectory(prefix="axion-artifact-") as folder:
        model = Path(folder) / "artifact"
        stream.seek(0)
        with model.open("wb") as handle:
            shutil.copyfileobj(stream, handle)
        stream.seek(0)
        return verify_file(model, bundle, public_keys)

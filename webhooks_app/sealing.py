"""Webhook secrets at rest: sealed with a key of this server's (Fernet, AES with an HMAC),
so that a database dump does not hand out the keys receivers trust. Signing needs the
secret itself, hence sealed rather than hashed."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A sealed secret this server's key does not open."""


def _fernet() -> Fernet:
    key = settings.WEBHOOK_SECRET_KEY or settings.SECRET_KEY
    digest = hashlib.sha256(b"axion webhook secrets\x00" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def secret_seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def secret_open(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The webhook's secret cannot be opened with this server's key (WEBHOOK_SECRET_KEY, "
            "else SECRET_KEY, changed since it was saved): set the webhook's secret again."
        ) from exc

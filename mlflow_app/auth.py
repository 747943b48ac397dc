"""Who is calling: the mlflow client sends `Authorization: Bearer <token>` (from
MLFLOW_TRACKING_TOKEN) or Basic (MLFLOW_TRACKING_USERNAME / PASSWORD).

Bearer (and Axion's own `Token <key>`) take an Axion API token, through the same per-process
token cache as the REST API. Basic takes an Axion username and password; a successful check
is remembered for TOKEN_CACHE_SECONDS under a keyed hash of the header (never the password),
since password hashing costs far more than a logged metric.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

from axion_registry.authentication import CredentialCache, own_copy, request_token_user
from mlflow_app.errors import MlflowError, unauthenticated

_logins = CredentialCache()


def _basic_user(request: HttpRequest, credentials: str) -> Any | None:
    digest = hmac.new(settings.SECRET_KEY.encode(), credentials.encode(),
                      hashlib.sha256).hexdigest()
    cached = _logins.get(digest)
    if cached is not None:
        return own_copy(cached)
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        _logins.forget(digest)
        return None
    _logins.put(digest, user)
    return own_copy(user)


def forget_credentials() -> None:
    _logins.forget()


def request_user(request: HttpRequest) -> Any:
    """The authenticated user of an MLflow call; anyone else is a 401 in MLflow's shape."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    user = None
    if scheme.lower() in ("bearer", "token") and credentials:
        user = request_token_user(credentials)
    elif scheme.lower() == "basic" and credentials:
        user = _basic_user(request, credentials)
    elif not header:
        raise unauthenticated(
            "Authentication required: set MLFLOW_TRACKING_TOKEN to an Axion API token (or "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an Axion login)."
        )
    if user is None:
        raise MlflowError("UNAUTHENTICATED", "The credentials were not accepted: the token "
                          "is unknown or the username or password is wrong.", 401)
    return user

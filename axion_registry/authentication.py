"""Token authentication for the whole API, with a short per-process cache.

The same DRF tokens everywhere. A token's user is read from the database at most once
every TOKEN_CACHE_SECONDS per process, so hot paths (a logged metric, a prediction) usually
touch no database to authenticate; a deleted token or a deactivated user stops working
within that time.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.drainage import set_override
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class CredentialCache:
    """Users behind credentials, each kept for TOKEN_CACHE_SECONDS in this process (bounded:
    full, it starts over). Entries are shared instances: hand requests `own_copy`."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, float]] = {}

    def get(self, key: str) -> Any | None:
        hit = self._entries.get(key)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def put(self, key: str, user: Any) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (user, time.monotonic() + settings.TOKEN_CACHE_SECONDS)

    def forget(self, key: str | None = None) -> None:
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


_tokens = CredentialCache()


def token_user(key: str) -> Any | None:
    """The active user behind a token key, or None: the one cached instance, shared by
    every thread of the process, so hand requests a copy (CachedTokenAuthentication does)."""
    cached = _tokens.get(key)
    if cached is not None:
        return cached
    token = Token.objects.select_related("user").filter(key=key, user__is_active=True).first()
    if token is None:
        _tokens.forget(key)
        return None
    _tokens.put(key, token.user)
    return token.user


def forget_tokens() -> None:
    _tokens.forget()


def request_token_user(key: str) -> Any | None:
    """The token's user for one request: its own instance, since concurrent requests of one
    token (a prediction load, say) must not share attributes set on request.user."""
    cached = token_user(key)
    return None if cached is None else own_copy(cached)


class CachedTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user = request_token_user(key)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return user, Token(key=key, user=user)


def own_copy(user: Any) -> Any:
    """A copy as pickling makes it (Model.__getstate__ copies _state and its caches), at
    half the cost of copy.copy, which goes through __reduce_ex__."""
    clone = user.__class__.__new__(user.__class__)
    clone.__dict__.update(user.__getstate__())
    return clone


# drf-spectacular describes it as DRF's own "tokenAuth" scheme: same name, same definition.
set_override(CachedTokenAuthentication, "suppress_collision_warning", True)

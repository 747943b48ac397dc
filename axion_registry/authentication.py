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

_cache: dict[str, tuple[Any, float]] = {}
_MAX_ENTRIES = 10_000


def token_user(key: str) -> Any | None:
    """The active user behind a token key, or None: the one cached instance, shared by
    every thread of the process, so hand requests a copy (CachedTokenAuthentication does)."""
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    token = Token.objects.select_related("user").filter(key=key, user__is_active=True).first()
    if token is None:
        _cache.pop(key, None)
        return None
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()
    _cache[key] = (token.user, now + settings.TOKEN_CACHE_SECONDS)
    return token.user


def forget_tokens() -> None:
    _cache.clear()


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

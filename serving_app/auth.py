"""Token authentication for the prediction hot path, with a short per-process cache.

The same DRF tokens as the rest of the API. A token is looked up in the database at most
once every SERVING_TOKEN_CACHE_SECONDS per process, so a predict request usually touches
no database at all; a deleted token or a deactivated user stops working within that time.
"""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.authtoken.models import Token

_cache: dict[str, tuple[int, float]] = {}
_MAX_ENTRIES = 10_000


def token_user_id(authorization: str) -> int | None:
    """The user id behind an `Authorization: Token <key>` header, or None."""
    if not authorization.startswith("Token "):
        return None
    key = authorization[6:].strip()
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    user_id = (
        Token.objects.filter(key=key, user__is_active=True)
        .values_list("user_id", flat=True).first()
    )
    if user_id is None:
        _cache.pop(key, None)
        return None
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()
    _cache[key] = (user_id, now + settings.SERVING_TOKEN_CACHE_SECONDS)
    return user_id


def forget_tokens() -> None:
    _cache.clear()

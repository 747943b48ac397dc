"""Who may post outcomes to a test, and the test-scoped outcome tokens services use."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from abtest_app.errors import OutcomesNotPermitted, OutcomeTokenNotFound
from abtest_app.models import ABTest, OutcomeToken
from abtest_app.services.lifecycle import require_manager
from axion_registry.errors import InvalidInput
from models_app import roles
from models_app.roles import Actor, audited_user

KEY_PREFIX = "axo_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: OutcomeToken
    key: str  # shown once; only its hash is stored


def outcome_token_create(
    *, test: ABTest, name: str, actor: Actor
) -> IssuedToken:
    """A new outcome token for `test` (its creator or a release manager may make one)."""
    require_manager(test, actor, "make an outcome token for")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("Name the token (1 to 100 characters), e.g. the service using it.",
                           code="invalid_name")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = OutcomeToken.objects.create(
        test=test, name=name, key_hash=key_hash(key), prefix=key[:12],
        created_by=audited_user(actor),
    )
    return IssuedToken(token=token, key=key)


@transaction.atomic
def outcome_token_revoke(
    *, test: ABTest, token_id: int, actor: Actor
) -> OutcomeToken:
    require_manager(test, actor, "revoke an outcome token of")
    token = OutcomeToken.objects.select_for_update().filter(pk=token_id, test=test).first()
    if token is None:
        raise OutcomeTokenNotFound(f"{test} has no outcome token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = audited_user(actor)
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token


def outcome_token_find(key: str) -> OutcomeToken | None:
    """The active token behind a key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    return OutcomeToken.objects.filter(key_hash=key_hash(key), revoked_at=None).first()


def require_outcome_poster(
    test: ABTest, actor: Actor, token: OutcomeToken | None
) -> None:
    """Outcomes come from the test's creator, a release manager, or a token for this test.

    None for both is an internal caller (the demo feeder's simulation, a script)."""
    if token is not None:
        if token.test_id == test.pk and token.revoked_at is None:
            return
        raise OutcomesNotPermitted(
            f"This outcome token belongs to another test; it may post only to test "
            f"{token.test_id}."
        )
    if actor is None:
        return
    user = audited_user(actor)
    if user is not None and (
        user.pk == test.created_by_id or roles.is_release_manager(user)
    ):
        return
    raise OutcomesNotPermitted(
        f"You may not post outcomes to {test}: that needs its creator, the 'release managers' "
        "group, or an outcome token made for this test (POST /api/v1/abtests/"
        f"{test.pk}/outcome-tokens/)."
    )

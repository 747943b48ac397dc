"""Signed artifacts: who may change a model's signing rule, and checking an upload's bundle."""

from __future__ import annotations

import logging
from typing import IO

from django.db import transaction

from models_app import roles, signing
from models_app.errors import (
    InvalidMetadata,
    SignatureInvalid,
    SignatureRequired,
    SigningNotPermitted,
)
from models_app.models import RegisteredModel
from models_app.roles import Actor
from models_app.services.ownership import model_change_record

logger = logging.getLogger(__name__)


def may_change_signing(user: Actor, model: RegisteredModel) -> bool:
    """The model's owners or a release manager, like its gates."""
    return roles.is_owner_or_release_manager(user, model)


def model_signing_update(
    *,
    model: RegisteredModel,
    actor: Actor,
    require_signed_artifacts: bool | None = None,
    signing_keys: list[str] | None = None,
) -> RegisteredModel:
    """Set whether versions must be signed and by which keys; versions are checked at load
    against the keys as they are now, so removing a key stops its versions from loading."""
    if not may_change_signing(actor, model):
        raise SigningNotPermitted(
            f"Only the owner of {model.name} or a release manager may change its signing keys "
            "or whether it requires signed artifacts."
        )
    with transaction.atomic():
        locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        before = {"require_signed_artifacts": locked.require_signed_artifacts,
                  "signing_keys": [signing.key_fingerprint(pem) for pem in locked.signing_keys]}
        if signing_keys is not None:
            if not isinstance(signing_keys, list):
                raise InvalidMetadata("signing_keys must be a list of PEM public keys.")
            try:
                cleaned = [signing.clean_public_key(pem) for pem in signing_keys]
            except signing.SigningKeyError as exc:
                raise InvalidMetadata(str(exc)) from exc
            locked.signing_keys = list(dict.fromkeys(cleaned))
        if require_signed_artifacts is not None:
            locked.require_signed_artifacts = bool(require_signed_artifacts)
        if locked.require_signed_artifacts and not locked.signing_keys:
            raise InvalidMetadata(
                f"{model.name} cannot require signed artifacts without a trusted key; "
                "give signing_keys (PEM public keys) in the same request."
            )
        locked.save(update_fields=["signing_keys", "require_signed_artifacts", "updated_at"])
        after = {"require_signed_artifacts": locked.require_signed_artifacts,
                 "signing_keys": [signing.key_fingerprint(pem) for pem in locked.signing_keys]}
        changed = {field: value for field, value in after.items() if before[field] != value}
        if changed:
            model_change_record(model=locked, actor=actor, old=before, new=changed,
                                source="signing")
    logger.info("signing of %s changed by %s: required=%s keys=%s", model.name,
                actor.get_username() if actor else None, locked.require_signed_artifacts,
                [signing.key_fingerprint(pem)[:12] for pem in locked.signing_keys])
    return locked


def signature_check(
    *, model: RegisteredModel, artifact: IO[bytes], bundle: bytes | None
) -> str:
    """The trusted key's fingerprint if `bundle` signs `artifact`; "" when unsigned and the
    model does not require signing. A bundle given is always verified."""
    if bundle is None:
        if model.require_signed_artifacts:
            raise SignatureRequired(
                f"{model.name} requires signed artifacts: send the model-signing bundle of "
                "this file as the 'signature' part of the upload (model_signing sign key ...)."
            )
        return ""
    try:
        return signing.verify_stream(artifact, bundle, model.signing_keys)
    except signing.SignatureError as exc:
        raise SignatureInvalid(
            f"The signature was refused: {exc}. Sign this exact file with a key that "
            f"{model.name} trusts."
        ) from exc

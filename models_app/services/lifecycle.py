"""Stage transitions: promotion with gates, rollback, the audit trail, announcements."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import IntegrityError, transaction
from django_fsm import ConcurrentTransition, can_proceed

from axion_registry.errors import InvalidInput
from models_app import roles, selectors
from models_app.choices import Stage
from models_app.errors import (
    FourEyesRequired,
    GateRefused,
    PromotionNotPermitted,
    RollbackRefused,
    TransitionRefused,
)
from models_app.gates import GateReport, load_check_gate
from models_app.models import (
    PROMOTABLE_STAGES,
    STAGE_MOVES,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    StageTransition,
)
from models_app.roles import Actor
from models_app.signals import model_rolled_back, move_refused, stage_changed, version_deployed

PROMOTE_PERMISSION = "models_app.promote_modelversion"
RELEASE_MANAGERS = "release managers"
SYSTEM_USERNAME = "axion-system"


def system_user() -> AbstractBaseUser:
    """The user automated workflows (A/B auto-promotion, guardrails) act as, audited by name."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(release_managers())
    return user


def release_managers() -> Group:
    """The group whose members may promote and roll back (a data migration creates it)."""
    group, created = Group.objects.get_or_create(name=RELEASE_MANAGERS)
    if created:
        group.permissions.add(Permission.objects.get(
            codename="promote_modelversion", content_type__app_label="models_app"))
    return group


def reason_required(reason: str, what: str) -> str:
    """The reason a person gives for a promotion or a rollback, which they may not leave out.

    The API and the admin ask it of people; the services themselves accept an empty reason,
    since automated callers (A/B auto-promotion, guardrails, tests) state their own source.
    """
    if not reason or not reason.strip():
        raise InvalidInput(f"Say why you {what} (a reason is required).",
                           code="reason_required")
    return reason.strip()[:2000]


def _require_promoter(actor: Actor, action: str) -> None:
    if not roles.is_release_manager(actor):
        raise PromotionNotPermitted(
            f"You may not {action}: it needs the permission {PROMOTE_PERMISSION} "
            f"(the '{RELEASE_MANAGERS}' group)."
        )


def _record(
    *,
    version: ModelVersion,
    kind: str,
    from_stage: str,
    actor: Actor,
    reason: str,
    source: str,
    gate_report: GateReport | None = None,
) -> StageTransition:
    record = StageTransition.objects.create(
        model=version.model,
        version=version,
        kind=kind,
        from_stage=from_stage,
        to_stage=version.stage,
        actor=roles.audited_user(actor),
        reason=reason,
        source=source,
        gate_report=gate_report.as_list() if gate_report else [],
    )
    stage_changed.send(sender=StageTransition, transition=record)
    return record


def _announce_refusal(version: ModelVersion, to: str, actor: Actor, exc: GateRefused) -> None:
    """After the refused move's transaction rolled back: receivers record it in their own."""
    details = exc.details if isinstance(exc.details, dict) else {}
    move_refused.send_robust(sender=ModelVersion, version=version, to_stage=to, actor=actor,
                             message=exc.message, gate_report=details.get("gate_report", []))


def _announce(version: ModelVersion, kind: str, previous: ModelVersion | None) -> None:
    payload = {
        "version_id": version.pk,
        "model_name": version.model.name,
        "version": version.version,
        "kind": kind,
        "previous_version_id": previous.pk if previous else None,
    }
    transaction.on_commit(lambda: version_deployed.send(sender=ModelVersion, **payload))


def _lock(version: ModelVersion) -> tuple[RegisteredModel, ModelVersion]:
    """Lock the registered model (serialising its transitions), then re-read the version."""
    model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
    fresh = ModelVersion.objects.select_related("model").get(pk=version.pk)
    return model, fresh


def _require_load_check(version: ModelVersion) -> None:
    """No version leaves draft for staging before a worker loaded and exercised it."""
    result = load_check_gate(version.model.gates or {},
                             selectors.version_load_check(version=version))
    if result is not None and not result.passed:
        report = GateReport((result,))
        raise GateRefused(f"{version} may not enter staging: {report.summary()}",
                          details={"gate_report": report.as_list()})


def version_transition(
    *,
    version: ModelVersion,
    to: str,
    actor: Actor,
    reason: str = "",
    source: str = "",
) -> StageTransition:
    """Move a version to a stage by the one transition that leads there."""
    if to == Stage.PRODUCTION:
        return version_promote(version=version, actor=actor, reason=reason, source=source)
    method = STAGE_MOVES.get(to)
    if method is None:
        raise TransitionRefused(
            f"Unknown stage '{to}'; use one of {', '.join(s.value for s in Stage)}."
        )
    try:
        with transaction.atomic():
            _, version = _lock(version)
            if to == Stage.ARCHIVED and version.stage == Stage.PRODUCTION:
                _require_promoter(actor, "take a version out of production")
            elif to != Stage.ARCHIVED:
                roles.require_move(actor, version, to)
            if to == Stage.STAGING:
                _require_load_check(version)
            from_stage = version.stage
            transition_method = getattr(version, method)
            if not can_proceed(transition_method):
                raise TransitionRefused(_refusal(version, to))
            transition_method()
            version.save(update_fields=["stage"])
            return _record(version=version, kind=method, from_stage=from_stage, actor=actor,
                           reason=reason, source=source)
    except ConcurrentTransition as exc:
        raise TransitionRefused(
            f"{version} changed stage while this move was under way; reload and try again."
        ) from exc
    except GateRefused as exc:
        _announce_refusal(version, to, actor, exc)
        raise


def _refusal(version: ModelVersion, to: str) -> str:
    allowed = sorted(str(t.target) for t in version.get_available_stage_transitions()
                     if not t.custom.get("rollback_only"))
    where = f"it may go to {', '.join(allowed)}" if allowed else "it can move nowhere"
    return f"{version} is {version.stage}; it cannot move to {to} ({where})."


def version_promote(
    *,
    version: ModelVersion,
    actor: Actor,
    reason: str = "",
    source: str = "",
    promotion_request: PromotionRequest | None = None,
    artifact: selectors.ArtifactCheck | None = None,
) -> StageTransition:
    """Put a version in production, archiving the one there, in one transaction.

    A four-eyes model is promoted only through an approved request
    (models_app.services.promotion_requests passes the pending request it approves, and the
    artifact check it made before taking its lock).
    """
    _require_promoter(actor, "promote to production")
    if artifact is None:
        artifact = selectors.promotion_artifact_check(version=version)
    try:
        with transaction.atomic():
            model, version = _lock(version)
            _require_promotable(model, version, promotion_request)
            previous = selectors.version_in_production(model=model)
            report = selectors.promotion_gate_report(version=version, production=previous,
                                                     artifact=artifact)
            if not report.passed:
                raise GateRefused(
                    f"{version} may not enter production: {report.summary()}",
                    details={"gate_report": report.as_list()},
                )
            if previous is not None:
                previous.model = model
                previous.archive()
                previous.save(update_fields=["stage"])
                _record(version=previous, kind="archive", from_stage=Stage.PRODUCTION,
                        actor=actor, reason=f"replaced by {version.version}", source=source)
            from_stage = version.stage
            version.promote()
            version.save(update_fields=["stage"])
            record = _record(version=version, kind="promote", from_stage=from_stage, actor=actor,
                             reason=reason, source=source, gate_report=report)
            _announce(version, "promote", previous)
            return record
    except (ConcurrentTransition, IntegrityError) as exc:
        raise TransitionRefused(
            f"Another promotion of {version.model.name} won the race; reload and try again."
        ) from exc
    except GateRefused as exc:
        _announce_refusal(version, Stage.PRODUCTION, actor, exc)
        raise


def _require_promotable(
    model: RegisteredModel, version: ModelVersion, promotion_request: PromotionRequest | None
) -> None:
    if model.require_four_eyes and not (
        promotion_request is not None and PromotionRequest.objects.filter(
            pk=promotion_request.pk, version=version,
            status=PromotionRequest.Status.PENDING).exists()
    ):
        raise FourEyesRequired(
            f"{model.name} requires four-eyes promotion: file a promotion request "
            f"(POST /api/v1/models/{model.name}/versions/{version.version}/"
            "promotion-requests/) for another release manager to approve."
        )
    if version.stage == Stage.PRODUCTION:
        raise TransitionRefused(f"{version} is already in production.")
    if version.stage not in PROMOTABLE_STAGES:
        raise TransitionRefused(_refusal(version, Stage.PRODUCTION))


def _rollback_artifact_check(model: RegisteredModel) -> selectors.ArtifactCheck | None:
    """The would-be rollback target's artifact, hashed before the lock."""
    target = selectors.rollback_target(
        model=model, current=selectors.version_in_production(model=model))
    return selectors.version_artifact_check(version=target) if target is not None else None


def model_rollback(
    *,
    model: RegisteredModel,
    actor: Actor,
    reason: str = "",
    source: str = "",
) -> StageTransition:
    """Restore the version that was in production before the current one.

    Metric gates are not re-applied (the version was trusted before), but its artifact
    must still match its sha256 (hashed before the lock, re-checked under it).
    """
    _require_promoter(actor, "roll back")
    artifact = _rollback_artifact_check(model)
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        current = selectors.version_in_production(model=model)
        if current is None:
            raise RollbackRefused(f"{model.name} has no production version to roll back.")
        target = selectors.rollback_target(model=model, current=current)
        if target is None:
            raise RollbackRefused(
                f"{model.name} has no earlier production version to roll back to."
            )
        if artifact is None or not artifact.describes(target):
            raise RollbackRefused(
                f"{model.name} changed while this rollback was under way; reload and try again."
            )
        if not artifact.intact:
            raise RollbackRefused(
                f"Cannot roll back to {target}: its artifact is missing or no longer matches "
                "its sha256.",
                code="artifact_corrupted",
            )
        current.model = model
        current.archive()
        current.save(update_fields=["stage"])
        _record(version=current, kind="archive", from_stage=Stage.PRODUCTION, actor=actor,
                reason=f"rolled back to {target.version}: {reason}".rstrip(": "), source=source)
        target.model = model
        target.restore()
        target.save(update_fields=["stage"])
        record = _record(version=target, kind="rollback", from_stage=Stage.ARCHIVED, actor=actor,
                         reason=reason, source=source)
        model_rolled_back.send(sender=RegisteredModel, transition=record, replaced=current)
        _announce(target, "rollback", current)
        return record


def versions_deprecate(
    *, versions: list[ModelVersion], actor: Actor, reason: str = ""
) -> list[StageTransition]:
    """Deprecate several versions; refuses all if any cannot be deprecated."""
    with transaction.atomic():
        return [
            version_transition(version=version, to=Stage.DEPRECATED, actor=actor, reason=reason)
            for version in versions
        ]

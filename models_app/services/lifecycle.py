"""Stage transitions: promotion with gates, rollback, the audit trail, announcements."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import IntegrityError, transaction
from django_fsm import ConcurrentTransition, can_proceed

from models_app import roles
from models_app.choices import Stage
from models_app.errors import (
    FourEyesRequired,
    GateRefused,
    PromotionNotPermitted,
    RollbackRefused,
    TransitionRefused,
)
from models_app.gates import GateReport, evaluate_gates, load_check_gate
from models_app.models import ModelVersion, PromotionRequest, RegisteredModel, StageTransition
from models_app.services.registration import version_verify_artifact
from models_app.signals import version_deployed

PROMOTE_PERMISSION = "models_app.promote_modelversion"
RELEASE_MANAGERS = "release managers"
SYSTEM_USERNAME = "axion-system"

# target stage -> transition method name, for the moves a caller may ask for by target.
MOVES = {
    Stage.STAGING: "submit",
    Stage.DRAFT: "reject",
    Stage.PRODUCTION: "promote",
    Stage.ARCHIVED: "archive",
    Stage.DEPRECATED: "deprecate",
}


def can_promote(user: AbstractBaseUser | None) -> bool:
    return roles.is_release_manager(user)


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


def _require_promoter(actor: AbstractBaseUser | None, action: str) -> None:
    if not can_promote(actor):
        raise PromotionNotPermitted(
            f"You may not {action}: it needs the permission {PROMOTE_PERMISSION} "
            f"(the '{RELEASE_MANAGERS}' group)."
        )


def _record(
    *,
    version: ModelVersion,
    kind: str,
    from_stage: str,
    actor: AbstractBaseUser | None,
    reason: str,
    source: str,
    gate_report: GateReport | None = None,
) -> StageTransition:
    return StageTransition.objects.create(
        model=version.model,
        version=version,
        kind=kind,
        from_stage=from_stage,
        to_stage=version.stage,
        actor=actor if actor is not None and actor.is_authenticated else None,
        reason=reason,
        source=source,
        gate_report=gate_report.as_list() if gate_report else [],
    )


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


def _current_production(model: RegisteredModel) -> ModelVersion | None:
    return ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).first()



def version_gate_report(*, version: ModelVersion) -> GateReport:
    """The gates' verdict on `version` entering production now."""
    return _gate_report(version, _current_production(version.model))


def _gate_report(version: ModelVersion, production: ModelVersion | None) -> GateReport:
    model = version.model
    gates = model.gates or {}
    verify = gates.get("verify_artifact", True)
    return evaluate_gates(
        gates,
        metrics=version.metrics,
        from_stage=version.stage,
        artifact_ok=version_verify_artifact(version=version) if verify else None,
        production_metrics=production.metrics if production and production.pk != version.pk
        else None,
        directions=model.metric_directions,
        load_check=_load_check(version),
        verified_metrics=version.verified_metrics,
    )


def _load_check(version: ModelVersion) -> dict[str, Any]:
    return {"status": version.load_check_status, "error": version.load_check.get("error"),
            "hint": version.load_check.get("hint")}


def _require_load_check(version: ModelVersion) -> None:
    """No version leaves draft for staging before a worker loaded and exercised it."""
    result = load_check_gate(version.model.gates or {}, _load_check(version))
    if result is not None and not result.passed:
        report = GateReport((result,))
        raise GateRefused(f"{version} may not enter staging: {report.summary()}",
                          details={"gate_report": report.as_list()})


def version_transition(
    *,
    version: ModelVersion,
    to: str,
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = "",
) -> StageTransition:
    """Move a version to a stage by the one transition that leads there."""
    if to == Stage.PRODUCTION:
        return version_promote(version=version, actor=actor, reason=reason, source=source)
    method = MOVES.get(to)
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


def _refusal(version: ModelVersion, to: str) -> str:
    allowed = sorted(t.target for t in version.get_available_stage_transitions()
                     if not t.custom.get("rollback_only"))
    where = f"it may go to {', '.join(allowed)}" if allowed else "it can move nowhere"
    return f"{version} is {version.stage}; it cannot move to {to} ({where})."


def version_promote(
    *,
    version: ModelVersion,
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = "",
    promotion_request: PromotionRequest | None = None,
) -> StageTransition:
    """Put a version in production, archiving the one there, in one transaction.

    A four-eyes model is promoted only through an approved request
    (models_app.services.promotion_requests passes the pending request it approves).
    """
    _require_promoter(actor, "promote to production")
    try:
        with transaction.atomic():
            model, version = _lock(version)
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
            if version.stage not in (Stage.DRAFT, Stage.STAGING):
                raise TransitionRefused(_refusal(version, Stage.PRODUCTION))
            previous = _current_production(model)
            report = _gate_report(version, previous)
            version.gate_report = report
            if not can_proceed(version.promote):
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


def production_stack(model: RegisteredModel) -> list[int]:
    """Version ids in production order, replayed from the audit trail: a promotion pushes,
    a rollback pops. Rollback restores the entry below the top, so it walks back, never
    bouncing between two versions."""
    stack: list[int] = []
    rows = (
        StageTransition.objects.filter(model=model, to_stage=Stage.PRODUCTION)
        .order_by("created_at", "id")
        .values_list("kind", "version_id")
    )
    for kind, version_id in rows:
        if kind == StageTransition.Kind.ROLLBACK:
            while stack and stack[-1] != version_id:
                stack.pop()
            if not stack:
                stack.append(version_id)
        else:
            stack.append(version_id)
    return stack


def model_rollback(
    *,
    model: RegisteredModel,
    actor: AbstractBaseUser | None,
    reason: str = "",
    source: str = "",
) -> StageTransition:
    """Restore the version that was in production before the current one.

    Metric gates are not re-applied (the version was trusted before), but its artifact
    must still match its sha256.
    """
    _require_promoter(actor, "roll back")
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        current = _current_production(model)
        if current is None:
            raise RollbackRefused(f"{model.name} has no production version to roll back.")
        stack = production_stack(model)
        if stack and stack[-1] == current.pk:
            stack.pop()
        candidates = ModelVersion.objects.in_bulk(stack)
        target = None
        while stack:
            candidate = candidates.get(stack.pop())
            if candidate is not None and candidate.stage == Stage.ARCHIVED:
                target = candidate
                break
        if target is None:
            raise RollbackRefused(
                f"{model.name} has no earlier production version to roll back to."
            )
        if not version_verify_artifact(version=target):
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
        _announce(target, "rollback", current)
        return record


def versions_deprecate(
    *, versions: list[ModelVersion], actor: AbstractBaseUser | None, reason: str = ""
) -> list[StageTransition]:
    """Deprecate several versions; refuses all if any cannot be deprecated."""
    with transaction.atomic():
        return [
            version_transition(version=version, to=Stage.DEPRECATED, actor=actor, reason=reason)
            for version in versions
        ]


def available_moves(version: ModelVersion, user: AbstractBaseUser | None) -> list[str]:
    """Stages the user may ask this version to move to (rollback is a model action)."""
    moves = []
    for t in version.get_available_stage_transitions():
        if t.custom.get("rollback_only"):
            continue
        if t.target == Stage.PRODUCTION and version.model.require_four_eyes:
            continue  # through a promotion request
        if not roles.may_move(user, version, t.target):
            continue
        moves.append(t.target)
    return sorted(set(moves))

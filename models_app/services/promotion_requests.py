"""Four-eyes promotion: one release manager requests, another approves or refuses.

- Filing a request needs a release manager (the system user files for A/B auto-promotion)
  and a version in draft, staging or archived (a roll-forward). One request per model is
  pending at a time: a newer request supersedes the pending one (it is withdrawn, naming
  the newer request).
- Approval needs a release manager other than the requester. It runs the normal
  promotion service, with its gates, under the same row lock on the registered model. An
  approval whose gates fail refuses the request (status refused, the gate report kept),
  and the 409 gate_refused answers; a new request can be filed once the cause is fixed.
- Refusal needs a release manager other than the requester and a reason; the requester
  (or any release manager) may withdraw a pending request.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from axion_registry.errors import DomainError
from models_app import roles, selectors
from models_app.errors import (
    FourEyesViolation,
    GateRefused,
    PromotionRequestClosed,
    PromotionRequestNotFound,
    TransitionRefused,
)
from models_app.models import PROMOTABLE_STAGES, ModelVersion, PromotionRequest, RegisteredModel
from models_app.roles import Actor
from models_app.services.lifecycle import reason_required, version_promote

PENDING = PromotionRequest.Status.PENDING


def _actor(user: Actor) -> User | None:
    return roles.audited_user(user)


def _request_get(request_id: int) -> PromotionRequest:
    try:
        return PromotionRequest.objects.select_related("version").get(pk=request_id)
    except PromotionRequest.DoesNotExist as exc:
        raise PromotionRequestNotFound(f"No promotion request with id {request_id}.") from exc


def _locked(request_id: int) -> tuple[RegisteredModel, PromotionRequest]:
    """Lock the model (the promotion lock order), then the request."""
    model_id = PromotionRequest.objects.filter(pk=request_id).values_list("model_id", flat=True)
    if not model_id:
        raise PromotionRequestNotFound(f"No promotion request with id {request_id}.")
    model = RegisteredModel.objects.select_for_update().get(pk=model_id[0])
    request = PromotionRequest.objects.select_for_update(of=("self",)).select_related(
        "version", "requested_by").get(pk=request_id)
    return model, request


def _require_pending(request: PromotionRequest) -> None:
    if request.status != PENDING:
        raise PromotionRequestClosed(
            f"Promotion request {request.pk} is {request.status}; only a pending request can "
            "be decided. File a new one if the version should still go to production."
        )


def promotion_request_file(
    *, version: ModelVersion, actor: Actor, reason: str, source: str = ""
) -> PromotionRequest:
    """Ask for `version` to go to production; another release manager decides."""
    reason = reason_required(reason, "request this promotion")
    roles.require_release_manager(actor, "request a promotion to production")
    if actor is None:
        raise FourEyesViolation("A promotion request needs a requester.")
    artifact = selectors.promotion_artifact_check(version=version)
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
        version = ModelVersion.objects.select_related("model").get(pk=version.pk)
        if version.stage not in PROMOTABLE_STAGES:
            raise TransitionRefused(
                f"{version} is {version.stage}; only a draft, staging or archived version "
                "can be requested for production."
            )
        superseded = _supersede(model, actor)
        request = PromotionRequest.objects.create(
            model=model, version=version, status=PENDING, reason=reason, source=source,
            requested_by=_actor(actor),
            gate_report=selectors.promotion_gate_report(
                version=version, production=selectors.version_in_production(model=model),
                artifact=artifact).as_list(),
        )
        PromotionRequest.objects.filter(pk__in=superseded).update(
            decision_reason=f"superseded by request {request.pk}"
        )
        return request


def _supersede(model: RegisteredModel, actor: Actor) -> list[int]:
    """Withdraw the model's pending request (at most one), for a newer one."""
    now = timezone.now()
    superseded = []
    for old in PromotionRequest.objects.select_for_update().filter(model=model, status=PENDING):
        old.status = PromotionRequest.Status.WITHDRAWN
        old.decided_by = _actor(actor)
        old.decided_at = now
        old.save(update_fields=["status", "decided_by", "decided_at"])
        superseded.append(old.pk)
    return superseded


def _require_other_release_manager(
    request: PromotionRequest, actor: Actor, what: str
) -> None:
    roles.require_release_manager(actor, f"{what} a promotion request")
    if actor is None or not actor.is_authenticated:
        raise FourEyesViolation(f"Only a signed-in release manager may {what} a request.")
    if request.requested_by_id == actor.pk:
        raise FourEyesViolation(
            f"You filed promotion request {request.pk}; another release manager must {what} "
            "it (four eyes)."
        )


def promotion_request_approve(
    *, request_id: int, actor: Actor, reason: str = ""
) -> PromotionRequest:
    """Approve: promote through the normal promotion service, gates and all."""
    refused: DomainError | None = None
    pending = _request_get(request_id)  # hashed before the lock, and only for a decision
    decidable = pending.status == PENDING and roles.is_release_manager(actor)
    artifact = (selectors.promotion_artifact_check(version=pending.version) if decidable
                else None)
    with transaction.atomic():
        _, request = _locked(request_id)
        _require_other_release_manager(request, actor, "approve")
        _require_pending(request)
        now = timezone.now()
        try:
            with transaction.atomic():
                record = version_promote(
                    version=request.version, actor=actor,
                    reason=f"four-eyes: requested by {_name(request)} ({request.reason}); "
                    f"approved. {reason}".strip()[:2000],
                    source=f"promotion-request:{request.pk}", promotion_request=request,
                    artifact=artifact,
                )
        except (GateRefused, TransitionRefused) as exc:
            refused = exc
            request.status = PromotionRequest.Status.REFUSED
            request.decision_reason = f"refused by the gates on approval: {exc.message}"
            if isinstance(exc, GateRefused):
                request.gate_report = (exc.details or {}).get("gate_report", [])
        else:
            request.status = PromotionRequest.Status.APPROVED
            request.decision_reason = reason.strip()
            request.transition = record
            request.gate_report = record.gate_report
        request.decided_by = _actor(actor)
        request.decided_at = now
        request.save()
    if refused is not None:
        refused.details = {**(refused.details or {}), "promotion_request_id": request.pk}
        raise refused
    return request


def _name(request: PromotionRequest) -> str:
    return request.requested_by.get_username() if request.requested_by else "unknown"


@transaction.atomic
def promotion_request_refuse(
    *, request_id: int, actor: Actor, reason: str
) -> PromotionRequest:
    reason = reason_required(reason, "refuse this promotion")
    _, request = _locked(request_id)
    _require_other_release_manager(request, actor, "refuse")
    _require_pending(request)
    request.status = PromotionRequest.Status.REFUSED
    request.decided_by = _actor(actor)
    request.decided_at = timezone.now()
    request.decision_reason = reason
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    return request


@transaction.atomic
def promotion_request_withdraw(
    *, request_id: int, actor: Actor, reason: str = ""
) -> PromotionRequest:
    """The requester (or any release manager) takes a pending request back."""
    _, request = _locked(request_id)
    if actor is not None and request.requested_by_id != actor.pk:
        roles.require_release_manager(actor, "withdraw another person's promotion request")
    _require_pending(request)
    request.status = PromotionRequest.Status.WITHDRAWN
    request.decided_by = _actor(actor)
    request.decided_at = timezone.now()
    request.decision_reason = reason.strip() or "withdrawn"
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    return request

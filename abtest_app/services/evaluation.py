"""Evaluating a test: store a snapshot, conclude on a decision, promote a winner if asked."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from abtest_app import selectors
from abtest_app.choices import Decision, PromotionStatus, SnapshotKind, TestState
from abtest_app.decision import Evaluation
from abtest_app.errors import InvalidABTest
from abtest_app.models import ABTest, ABTestSnapshot
from abtest_app.services.lifecycle import apply_transition, lock_test, refusal, require_manager
from axion_registry.errors import DomainError
from models_app import services as registry
from models_app.models import ModelVersion
from models_app.roles import Actor, audited_user


def _snapshot(
    test: ABTest, evaluation: Evaluation, *, now: datetime, kind: str, concluded: bool
) -> ABTestSnapshot:
    data = evaluation.as_snapshot()
    data.pop("relative_lift_reason")
    return ABTestSnapshot.objects.create(
        test=test,
        created_at=now,
        kind=kind,
        srm_p=data.pop("srm_p"),
        max_duration_reached=selectors.max_duration_reached(test, now),
        concluded=concluded,
        details=evaluation.details(),
        **data,
    )


def _promote(test: ABTest, snapshot: ABTestSnapshot) -> None:
    """Promote the challenger through the registry's gates, acting as the system user."""
    challenger = ModelVersion.objects.select_related("model").get(pk=test.challenger_id)
    reason = f"A/B test {test.pk} '{test.name}': challenger won. {test.conclusion_reason}"
    if challenger.model.require_four_eyes:
        _request_promotion(test, snapshot, challenger, reason)
        return
    try:
        record = registry.version_promote(
            version=challenger, actor=registry.system_user(), reason=reason[:2000],
            source=f"abtest:{test.pk}",
        )
    except DomainError as exc:  # a refused gate keeps the champion; say why
        test.promotion_status = PromotionStatus.REFUSED
        test.promotion_message = f"{challenger} was not promoted: {exc.message}"
        test.promotion_details = exc.as_dict()
    else:
        test.promotion_status = PromotionStatus.PROMOTED
        test.promotion_message = f"{challenger} promoted to production."
        test.promotion_details = {"transition_id": record.pk}
    test.save(update_fields=["promotion_status", "promotion_message", "promotion_details"])
    snapshot.promotion_status = test.promotion_status
    snapshot.promotion_message = test.promotion_message
    snapshot.save(update_fields=["promotion_status", "promotion_message"])


def _request_promotion(
    test: ABTest, snapshot: ABTestSnapshot, challenger: ModelVersion, reason: str
) -> None:
    """A four-eyes model: file a request as the system user; a release manager decides."""
    try:
        with transaction.atomic():
            request = registry.promotion_request_file(
                version=challenger, actor=registry.system_user(), reason=reason[:2000],
                source=f"abtest:{test.pk}",
            )
    except DomainError as exc:
        test.promotion_status = PromotionStatus.REFUSED
        test.promotion_message = f"{challenger} could not be requested for production: " \
            f"{exc.message}"
        test.promotion_details = exc.as_dict()
    else:
        test.promotion_status = PromotionStatus.REQUESTED
        test.promotion_message = (
            f"{challenger.model.name} requires four-eyes promotion: promotion request "
            f"{request.pk} awaits a release manager's approval."
        )
        test.promotion_details = {"promotion_request_id": request.pk}
    test.save(update_fields=["promotion_status", "promotion_message", "promotion_details"])
    snapshot.promotion_status = test.promotion_status
    snapshot.promotion_message = test.promotion_message
    snapshot.save(update_fields=["promotion_status", "promotion_message"])


def abtest_evaluate(
    *, test_id: int, now: datetime | None = None
) -> ABTestSnapshot | None:
    """One scheduled look at a running test: snapshot it; conclude it on a decision.

    The test row is locked for the whole look, so two evaluations at once cannot both
    conclude: the second finds the test concluded and does nothing (returns None).
    """
    now = now or timezone.now()
    with transaction.atomic():
        test = lock_test(test_id)
        if test.state != TestState.RUNNING:
            return None
        evaluation = selectors.abtest_evaluation(test=test, now=now)
        decided = evaluation.decision != Decision.NO_DECISION
        snapshot = _snapshot(
            test, evaluation, now=now, kind=SnapshotKind.SCHEDULED, concluded=decided
        )
        if evaluation.srm_mismatch and not test.srm_flagged:
            test.srm_flagged = True
            test.save(update_fields=["srm_flagged"])
        if not decided:
            return snapshot
        test.decision = evaluation.decision
        test.conclusion_reason = " ".join(evaluation.reasons)
        apply_transition(test, "conclude", now)
        if test.auto_promote and evaluation.decision == Decision.CHALLENGER_WINS:
            _promote(test, snapshot)
        return snapshot


def abtest_conclude(
    *, test: ABTest, actor: Actor, reason: str
) -> ABTest:
    """End a running or paused test by hand, with a reason and a final snapshot.

    The decision recorded is what the statistics say at this moment (possibly
    no_decision). A manual conclusion never promotes: a person who wants the challenger
    in production promotes it through the registry.
    """
    if not reason or not reason.strip():
        raise InvalidABTest(
            "Say why the test is concluded by hand (a reason is required).",
            code="reason_required",
        )
    now = timezone.now()
    with transaction.atomic():
        test = lock_test(test.pk)
        require_manager(test, actor, "conclude")
        if not can_proceed(test.conclude):
            raise refusal(test, "conclude")
        evaluation = selectors.abtest_evaluation(test=test, now=now)
        _snapshot(test, evaluation, now=now, kind=SnapshotKind.MANUAL, concluded=True)
        test.decision = evaluation.decision
        test.conclusion_reason = reason.strip()
        test.ended_by = audited_user(actor)
        if evaluation.srm_mismatch:
            test.srm_flagged = True
        return apply_transition(test, "conclude", now)

"""Creating a test and moving it through draft -> running <-> paused -> concluded/cancelled."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed

from abtest_app.choices import (
    Arm,
    AssignmentRule,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MetricType,
    MinEffectKind,
    TestState,
)
from abtest_app.errors import (
    ABTestNotFound,
    ABTestNotPermitted,
    ABTestTransitionRefused,
    AnotherTestRunning,
    InvalidABTest,
)
from abtest_app.models import ABTest, ArmStats
from abtest_app.signals import abtest_routing_changed
from models_app import roles
from models_app import selectors as registry_selectors
from models_app.choices import Stage
from models_app.errors import VersionNotFound
from models_app.models import ModelVersion, RegisteredModel
from models_app.roles import Actor, audited_user
from models_app.vocabulary import Vocabulary

NAME = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]{0,99}$")
CHALLENGER_STAGES = (Stage.DRAFT, Stage.STAGING)
CHAMPION_STAGES = (Stage.DRAFT, Stage.STAGING, Stage.PRODUCTION)


def can_manage(test: ABTest, user: Actor) -> bool:
    """Start, pause, conclude and cancel: the test's creator or a release manager."""
    signed = audited_user(user)
    if signed is None:
        return False
    return signed.pk == test.created_by_id or roles.is_release_manager(signed)


def require_manager(test: ABTest, actor: Actor, action: str) -> None:
    if not can_manage(test, actor):
        raise ABTestNotPermitted(
            f"You may not {action} {test}: only its creator or a release manager may."
        )


def routes_production_traffic(test: ABTest) -> bool:
    """A running test answers part of the model's production traffic with the challenger
    (whenever the model has a production version), and auto_promote may promote it."""
    return test.auto_promote or registry_selectors.production_versions().filter(
        model_id=test.model_id).exists()


def may_start(test: ABTest, user: Actor) -> bool:
    """Start or resume: a release manager; the creator only for a sandbox test (no
    production version on the model, no auto-promotion)."""
    if not can_manage(test, user):
        return False
    return roles.is_release_manager(audited_user(user)) or not routes_production_traffic(test)


def require_starter(test: ABTest, actor: Actor) -> None:
    require_manager(test, actor, "start")
    if may_start(test, actor):
        return
    why = ("it promotes its winner (auto_promote)" if test.auto_promote else
           f"{test.model.name} serves production traffic and a running test answers part of "
           "it with the challenger")
    raise ABTestNotPermitted(
        f"You may not start {test}: {why}. Starting it needs the 'release managers' group."
    )


def _choice(value: str, choices: type[Vocabulary], field: str) -> str:
    if value not in choices.values:
        raise InvalidABTest(
            f"{field} must be one of {', '.join(choices.values)}, got {value!r}.",
            code=f"invalid_{field}",
        )
    return value


def _version(model: RegisteredModel, version: ModelVersion | str, role: Arm) -> ModelVersion:
    if isinstance(version, ModelVersion):
        if version.model_id != model.pk:
            raise InvalidABTest(
                f"The {role} {version} is a version of another model, not of {model.name}.",
                code="version_of_other_model",
            )
        return version
    try:
        return registry_selectors.version_get(model_name=model.name, version=str(version))
    except VersionNotFound as exc:
        raise InvalidABTest(
            f"{model.name} has no version '{version}' to be the {role}.",
            code="version_of_other_model" if ModelVersion.objects.filter(version=str(version))
            .exclude(model=model).exists() else "unknown_version",
        ) from exc


def _check_versions(champion: ModelVersion, challenger: ModelVersion) -> None:
    if champion.pk == challenger.pk:
        raise InvalidABTest(
            f"The champion and the challenger are the same version ({champion.version}); "
            "a test needs two different versions.",
            code="same_version",
        )
    if challenger.stage not in CHALLENGER_STAGES:
        raise InvalidABTest(
            f"The challenger {challenger} is {challenger.stage}; a challenger must be in "
            f"{' or '.join(CHALLENGER_STAGES)} (it may be promoted if it wins).",
            code="invalid_challenger_stage",
        )
    if champion.stage not in CHAMPION_STAGES:
        raise InvalidABTest(
            f"The champion {champion} is {champion.stage}; serve a version that is in "
            "production (normally) or staging.",
            code="invalid_champion_stage",
        )


def _clean_guardrails(guardrails: Sequence[Mapping[str, Any]], metric_name: str) -> list[dict]:
    if not isinstance(guardrails, Sequence) or isinstance(guardrails, (str, bytes)):
        raise InvalidABTest("guardrails must be a list of objects.", code="invalid_guardrails")
    cleaned: list[dict] = []
    for position, guardrail in enumerate(guardrails):
        if not isinstance(guardrail, Mapping):
            raise InvalidABTest(
                f"guardrails[{position}] must be an object with name, type and direction.",
                code="invalid_guardrails",
            )
        name = guardrail.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidABTest(
                f"guardrails[{position}].name must be a metric name (letters, digits, -_.).",
                code="invalid_guardrails",
            )
        if name == metric_name or name in {g["name"] for g in cleaned}:
            raise InvalidABTest(
                f"guardrail '{name}' repeats a metric already in the test.",
                code="invalid_guardrails",
            )
        unknown = set(guardrail) - {"name", "type", "direction"}
        if unknown:
            raise InvalidABTest(
                f"guardrails[{position}] has unknown key(s) {', '.join(sorted(unknown))}.",
                code="invalid_guardrails",
            )
        cleaned.append(
            {
                "name": name,
                "type": _choice(guardrail.get("type", MetricType.CONTINUOUS), MetricType,
                                "guardrail_type"),
                "direction": _choice(guardrail.get("direction", Direction.HIGHER), Direction,
                                     "guardrail_direction"),
            }
        )
    return cleaned


def _check_numbers(
    *,
    challenger_share: float,
    alpha: float,
    min_samples_per_arm: int,
    planned_samples_per_arm: int,
    min_effect: float,
    max_duration: timedelta,
) -> None:
    if not (math.isfinite(challenger_share) and 0 < challenger_share < 100):
        raise InvalidABTest(
            f"challenger_share is the challenger's percent of units and must be strictly "
            f"between 0 and 100, got {challenger_share!r}.",
            code="invalid_split",
        )
    if not (math.isfinite(alpha) and 0 < alpha <= 0.5):
        raise InvalidABTest(f"alpha must be in (0, 0.5], got {alpha!r}.", code="invalid_alpha")
    if min_samples_per_arm < 2:
        raise InvalidABTest(
            f"min_samples_per_arm must be at least 2, got {min_samples_per_arm}.",
            code="invalid_min_samples",
        )
    if planned_samples_per_arm < 2:
        raise InvalidABTest(
            f"planned_samples_per_arm must be at least 2, got {planned_samples_per_arm}.",
            code="invalid_planned_samples",
        )
    if not (math.isfinite(min_effect) and min_effect >= 0):
        raise InvalidABTest(
            "min_effect is an improvement in the metric's better direction and must be >= 0, "
            f"got {min_effect!r}.",
            code="invalid_min_effect",
        )
    if max_duration <= timedelta(0):
        raise InvalidABTest("max_duration must be positive.", code="invalid_max_duration")


def _check_statistics(
    *,
    metric_type: str,
    method: str,
    ratio_metric: bool,
    guardrail_correction: str,
    decision_rule: str,
    loss_threshold: float,
    prior_variance: float,
    prior_proper: bool,
    prior_mean: float,
) -> None:
    _choice(guardrail_correction, GuardrailCorrection, "guardrail_correction")
    _choice(decision_rule, DecisionRule, "decision_rule")
    if ratio_metric and (metric_type != MetricType.CONTINUOUS or method == Method.MANN_WHITNEY):
        raise InvalidABTest(
            "A ratio metric is a continuous metric analysed with the delta method: use it with "
            "metric_type continuous and the sequential or welch method.",
            code="invalid_ratio_metric",
        )
    if decision_rule == DecisionRule.EXPECTED_LOSS and not (
        math.isfinite(loss_threshold) and loss_threshold > 0
    ):
        raise InvalidABTest(
            "Deciding by expected loss needs loss_threshold > 0: the loss you accept from "
            "shipping the wrong arm, on the min_effect_kind scale (e.g. 0.001).",
            code="invalid_loss_threshold",
        )
    if not (math.isfinite(prior_mean) and math.isfinite(prior_variance)) or (
        prior_proper and prior_variance <= 0
    ):
        raise InvalidABTest(
            f"An informative prior needs a finite mean and a variance > 0, got mean "
            f"{prior_mean!r} and variance {prior_variance!r}.",
            code="invalid_prior",
        )


@transaction.atomic
def abtest_create(
    *,
    name: str,
    model: RegisteredModel | str,
    champion: ModelVersion | str,
    challenger: ModelVersion | str,
    metric_name: str,
    metric_type: str,
    metric_direction: str = Direction.HIGHER,
    challenger_share: float = 50.0,
    assignment_unit: str = "user",
    method: str = Method.SEQUENTIAL,
    alpha: float = 0.05,
    min_samples_per_arm: int = 100,
    planned_samples_per_arm: int = 5000,
    min_effect: float = 0.0,
    min_effect_kind: str = MinEffectKind.ABSOLUTE,
    max_duration: timedelta = timedelta(days=30),
    auto_promote: bool = False,
    guardrails: Sequence[Mapping[str, Any]] = (),
    description: str = "",
    created_by: Actor = None,
    ratio_metric: bool = False,
    guardrail_correction: str = GuardrailCorrection.HOLM,
    decision_rule: str = DecisionRule.SIGNIFICANCE,
    loss_threshold: float = 0.0,
    prior_mean: float = 0.0,
    prior_variance: float = 1.0,
    prior_proper: bool = False,
) -> ABTest:
    """A draft test of `challenger` against `champion`, two versions of `model`.

    New tests assign in GrowthBook's order (abtest_app.assignment)."""
    if not name or not name.strip():
        raise InvalidABTest("Give the test a name.", code="invalid_name")
    if not isinstance(metric_name, str) or not NAME.match(metric_name):
        raise InvalidABTest(
            "metric_name must be a metric name (letters, digits, -_.).", code="invalid_metric"
        )
    if not isinstance(model, RegisteredModel):
        model = registry_selectors.model_get(name=model)
    champion_version = _version(model, champion, Arm.CHAMPION)
    challenger_version = _version(model, challenger, Arm.CHALLENGER)
    _check_versions(champion_version, challenger_version)
    _choice(metric_type, MetricType, "metric_type")
    _choice(metric_direction, Direction, "metric_direction")
    _choice(method, Method, "method")
    _choice(min_effect_kind, MinEffectKind, "min_effect_kind")
    _check_numbers(
        challenger_share=challenger_share, alpha=alpha, min_samples_per_arm=min_samples_per_arm,
        planned_samples_per_arm=planned_samples_per_arm, min_effect=min_effect,
        max_duration=max_duration,
    )
    if method == Method.ZTEST and metric_type != MetricType.BINARY:
        raise InvalidABTest(
            "The z-test compares proportions: use it with a binary metric, or choose "
            "sequential, welch or mannwhitney for a continuous one.",
            code="method_needs_binary_metric",
        )
    statistics: dict[str, Any] = {
        "ratio_metric": ratio_metric, "guardrail_correction": guardrail_correction,
        "decision_rule": decision_rule, "loss_threshold": loss_threshold,
        "prior_mean": prior_mean, "prior_variance": prior_variance,
        "prior_proper": prior_proper,
    }
    _check_statistics(metric_type=metric_type, method=method, **statistics)
    cleaned_guardrails = _clean_guardrails(guardrails, metric_name)
    test = ABTest.objects.create(
        name=name.strip(),
        description=description,
        model=model,
        champion=champion_version,
        challenger=challenger_version,
        challenger_share=challenger_share,
        assignment_unit=assignment_unit,
        metric_name=metric_name,
        metric_type=metric_type,
        metric_direction=metric_direction,
        guardrails=cleaned_guardrails,
        method=method,
        alpha=alpha,
        min_samples_per_arm=min_samples_per_arm,
        planned_samples_per_arm=planned_samples_per_arm,
        min_effect=min_effect,
        min_effect_kind=min_effect_kind,
        max_duration=max_duration,
        auto_promote=auto_promote,
        created_by=audited_user(created_by),
        assignment_rule=AssignmentRule.GROWTHBOOK,
        **statistics,
    )
    ArmStats.objects.bulk_create(
        ArmStats(test=test, arm=arm, metric=metric)
        for arm in Arm.values
        for metric in test.metric_names()
    )
    return test


def lock_test(test_id: int) -> ABTest:
    """The test row, locked until the end of the transaction (call inside one)."""
    try:
        return ABTest.objects.select_for_update().get(pk=test_id)
    except ABTest.DoesNotExist as exc:
        raise ABTestNotFound(f"No A/B test with id {test_id}.") from exc


def refusal(test: ABTest, action: str) -> ABTestTransitionRefused:
    allowed = sorted(t.name for t in test.get_available_state_transitions())
    where = f"it may {', '.join(allowed)}" if allowed else "it is finished"
    return ABTestTransitionRefused(f"{test} is {test.state}; it cannot {action} ({where}).")


def apply_transition(test: ABTest, action: str, now: datetime) -> ABTest:
    method = getattr(test, action)
    if not can_proceed(method):
        raise refusal(test, action)
    method(now=now)
    try:
        test.save()
    except ConcurrentTransition as exc:
        raise ABTestTransitionRefused(
            f"{test} changed state while this {action} was under way; reload and try again."
        ) from exc
    payload = {"test_id": test.pk, "model_name": test.model.name, "state": test.state}
    transaction.on_commit(lambda: abtest_routing_changed.send(sender=ABTest, **payload))
    return test


def abtest_start(*, test: ABTest, actor: Actor, now: datetime | None = None) -> ABTest:
    """Start (or resume) a test; at most one test of a model runs at a time."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            test = lock_test(test.pk)
            require_manager(test, actor, "start")
            if not can_proceed(test.start):
                raise refusal(test, "start")
            # Serialise starts per model (the same lock order as promotion: test, then model).
            RegisteredModel.objects.select_for_update().get(pk=test.model_id)
            require_starter(test, actor)
            running = (
                ABTest.objects.filter(model_id=test.model_id, state=TestState.RUNNING)
                .exclude(pk=test.pk)
                .values_list("pk", flat=True)
                .first()
            )
            if running is not None:
                raise AnotherTestRunning(
                    f"A/B test {running} is already running on {test.model.name}; pause, "
                    "conclude or cancel it first (one running test per model).",
                    details={"running_test_id": running},
                )
            champion = ModelVersion.objects.get(pk=test.champion_id)
            challenger = ModelVersion.objects.get(pk=test.challenger_id)
            _check_versions(champion, challenger)
            return apply_transition(test, "start", now)
    except IntegrityError as exc:
        raise AnotherTestRunning(
            f"Another test of {test.model.name} started at the same moment; only one may run."
        ) from exc


@transaction.atomic
def abtest_pause(*, test: ABTest, actor: Actor) -> ABTest:
    """Stop routing traffic to the challenger; outcomes still arriving are kept."""
    test = lock_test(test.pk)
    require_manager(test, actor, "pause")
    return apply_transition(test, "pause", timezone.now())


@transaction.atomic
def abtest_cancel(*, test: ABTest, actor: Actor, reason: str = "") -> ABTest:
    """Abandon the test without a decision."""
    test = lock_test(test.pk)
    require_manager(test, actor, "cancel")
    test.conclusion_reason = reason
    test.ended_by = audited_user(actor)
    return apply_transition(test, "cancel", timezone.now())

"""Fixtures of the A/B test tests: a champion in production, a challenger in staging."""

from __future__ import annotations

import numpy as np
import pytest

from abtest_app import services
from abtest_app.assignment import CHALLENGER, assign_many
from abtest_app.models import ABTest


@pytest.fixture
def champion(register_version, release_manager):
    from models_app import services as registry

    version = register_version("1.0.0")
    registry.version_transition(version=version, to="staging", actor=release_manager)
    registry.version_promote(version=version, actor=release_manager)
    return type(version).objects.get(pk=version.pk)


@pytest.fixture
def challenger(register_version, release_manager, champion):
    from models_app import services as registry

    version = register_version("1.1.0", metrics={"auc": 0.78})
    registry.version_transition(version=version, to="staging", actor=release_manager)
    return type(version).objects.get(pk=version.pk)


@pytest.fixture
def make_test(champion, challenger, researcher):
    """A draft test through the service; keyword arguments override the defaults."""

    def make(**fields) -> ABTest:
        fields.setdefault("name", "ranking 1.1 vs 1.0")
        fields.setdefault("model", champion.model)
        fields.setdefault("champion", champion)
        fields.setdefault("challenger", challenger)
        fields.setdefault("metric_name", "hit_rate")
        fields.setdefault("metric_type", "continuous")
        fields.setdefault("created_by", researcher)
        return services.abtest_create(**fields)

    return make


@pytest.fixture
def running_test(make_test, release_manager):
    """A started test with a fixed assignment seed, so simulated data are reproducible.

    The researcher created it; a release manager started it (its champion is in production,
    so its traffic is production traffic)."""

    def make(seed: str = "fixed-seed", **fields) -> ABTest:
        test = make_test(**fields)
        ABTest.objects.filter(pk=test.pk).update(seed=seed)
        services.abtest_start(test=test, actor=release_manager)
        return ABTest.objects.get(pk=test.pk)

    return make


def simulate(
    test: ABTest,
    n: int,
    *,
    champion_mean: float,
    challenger_mean: float,
    sd: float = 1.0,
    binary: bool = False,
    seed: int = 0,
    prefix: str = "u",
    guardrails: dict[str, tuple[float, float]] | None = None,
) -> list[dict]:
    """Outcomes of n units whose values depend on the arm the test assigns them."""
    rng = np.random.default_rng(seed)
    units = [f"{prefix}{i}" for i in range(n)]
    is_challenger = np.array(assign_many(test.seed, units, test.challenger_share)) == CHALLENGER
    means = np.where(is_challenger, challenger_mean, champion_mean)
    if binary:
        values = (rng.random(n) < means).astype(float)
    else:
        values = rng.normal(means, sd)
    items = []
    for i, unit in enumerate(units):
        item = {"unit_id": unit, "value": float(values[i]), "outcome_id": f"{prefix}-o{i}"}
        if guardrails:
            item["metrics"] = {
                name: float(rng.normal(b if is_challenger[i] else a, 1.0))
                for name, (a, b) in guardrails.items()
            }
        items.append(item)
    return items


def record(test: ABTest, items: list[dict], batch: int = 10_000) -> None:
    for start in range(0, len(items), batch):
        services.abtest_record_outcomes(
            test=ABTest.objects.get(pk=test.pk), outcomes=items[start : start + batch]
        )

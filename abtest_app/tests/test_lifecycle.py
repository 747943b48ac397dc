from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from abtest_app import services
from abtest_app.errors import (
    ABTestNotPermitted,
    ABTestTransitionRefused,
    AnotherTestRunning,
    InvalidABTest,
)
from abtest_app.models import ABTest, ArmStats
from axion_registry.testing import run_concurrently

pytestmark = pytest.mark.django_db


def state_of(test: ABTest) -> str:
    return ABTest.objects.get(pk=test.pk).state


class TestCreate:
    def test_it_creates_a_draft_with_a_random_seed_and_empty_arm_stats(self, make_test):
        first = make_test(guardrails=[{"name": "latency_ms", "direction": "lower"}])
        second = make_test()
        assert first.state == "draft"
        assert first.seed and first.seed != second.seed
        rows = ArmStats.objects.filter(test=first).values_list("arm", "metric", "n")
        assert sorted(rows) == [("challenger", "", 0), ("challenger", "latency_ms", 0),
                                ("champion", "", 0), ("champion", "latency_ms", 0)]

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"challenger_share": 0}, "invalid_split"),
            ({"challenger_share": 100}, "invalid_split"),
            ({"challenger_share": -5}, "invalid_split"),
            ({"alpha": 0}, "invalid_alpha"),
            ({"alpha": 0.9}, "invalid_alpha"),
            ({"min_samples_per_arm": 1}, "invalid_min_samples"),
            ({"min_effect": -0.1}, "invalid_min_effect"),
            ({"max_duration": timedelta(0)}, "invalid_max_duration"),
            ({"method": "ztest"}, "method_needs_binary_metric"),
            ({"metric_type": "ordinal"}, "invalid_metric_type"),
            ({"guardrails": [{"name": "hit_rate"}]}, "invalid_guardrails"),
            ({"guardrails": [{"name": "x", "kind": "?"}]}, "invalid_guardrails"),
        ],
    )
    def test_it_refuses_an_unsound_design(self, make_test, fields, code):
        with pytest.raises(InvalidABTest) as caught:
            make_test(**fields)
        assert caught.value.code == code
        assert not ABTest.objects.exists()

    def test_it_refuses_the_same_version_twice(self, make_test, champion):
        with pytest.raises(InvalidABTest) as caught:
            make_test(challenger=champion)
        assert caught.value.code == "same_version"

    def test_it_refuses_a_version_of_another_model(self, make_test, register_version):
        from models_app import services as registry

        registry.model_create(name="regime", gates={"load_check": False})
        other = register_version("1.0.0", model_name="regime")
        with pytest.raises(InvalidABTest) as caught:
            make_test(challenger=other)
        assert caught.value.code == "version_of_other_model"

    def test_it_refuses_a_challenger_already_in_production(self, make_test, champion,
                                                           challenger):
        with pytest.raises(InvalidABTest) as caught:
            make_test(champion=challenger, challenger=champion)
        assert caught.value.code == "invalid_challenger_stage"


class TestTransitions:
    @pytest.mark.parametrize(
        ("path", "allowed"),
        [
            (["start"], True),
            (["cancel"], True),
            (["pause"], False),
            (["conclude"], False),
            (["start", "pause"], True),
            (["start", "pause", "start"], True),
            (["start", "conclude"], True),
            (["start", "pause", "conclude"], True),
            (["start", "cancel"], True),
            (["start", "conclude", "start"], False),
            (["start", "conclude", "cancel"], False),
            (["cancel", "start"], False),
            (["start", "start"], False),
        ],
    )
    def test_moves_are_allowed_or_refused(self, make_test, researcher, path, allowed,
                                          release_manager):
        test = make_test()
        calls = {
            "start": lambda: services.abtest_start(test=test, actor=release_manager),
            "pause": lambda: services.abtest_pause(test=test, actor=researcher),
            "conclude": lambda: services.abtest_conclude(test=test, actor=researcher,
                                                         reason="enough"),
            "cancel": lambda: services.abtest_cancel(test=test, actor=researcher),
        }
        *before, last = path
        for step in before:
            calls[step]()
        targets = {"start": "running", "pause": "paused", "conclude": "concluded",
                   "cancel": "cancelled"}
        if allowed:
            calls[last]()
            assert state_of(test) == targets[last]
        else:
            previous = state_of(test)
            with pytest.raises(ABTestTransitionRefused):
                calls[last]()
            assert state_of(test) == previous

    def test_running_time_excludes_pauses(self, make_test, researcher, release_manager):
        test = make_test()
        services.abtest_start(test=test, actor=release_manager)
        services.abtest_pause(test=test, actor=researcher)
        ABTest.objects.filter(pk=test.pk).update(run_time=timedelta(hours=5))
        paused = ABTest.objects.get(pk=test.pk)
        assert paused.resumed_at is None
        assert paused.elapsed(paused.started_at + timedelta(days=3)) == timedelta(hours=5)
        services.abtest_start(test=test, actor=release_manager)
        resumed = ABTest.objects.get(pk=test.pk)
        later = resumed.resumed_at + timedelta(hours=2)
        assert resumed.elapsed(later) == timedelta(hours=7)

    def test_manual_conclusion_needs_a_reason(self, running_test, researcher):
        test = running_test()
        with pytest.raises(InvalidABTest) as caught:
            services.abtest_conclude(test=test, actor=researcher, reason="  ")
        assert caught.value.code == "reason_required"
        assert state_of(test) == "running"

    def test_manual_conclusion_keeps_a_final_snapshot_and_never_promotes(
        self, running_test, release_manager, challenger
    ):
        test = running_test(auto_promote=True)
        services.abtest_conclude(test=test, actor=release_manager, reason="budget ran out")
        test = ABTest.objects.get(pk=test.pk)
        assert (test.state, test.decision, test.conclusion_reason) == (
            "concluded", "no_decision", "budget ran out"
        )
        assert test.ended_by == release_manager
        snapshot = test.snapshots.get()
        assert (snapshot.kind, snapshot.concluded) == ("manual", True)
        assert type(challenger).objects.get(pk=challenger.pk).stage == "staging"


class TestPermissions:
    def test_another_researcher_may_not_start_pause_conclude_or_cancel(self, make_test,
                                                                        make_user):
        test = make_test()
        stranger = make_user("sam_stranger")
        with pytest.raises(ABTestNotPermitted):
            services.abtest_start(test=test, actor=stranger)
        with pytest.raises(ABTestNotPermitted):
            services.abtest_cancel(test=test, actor=stranger)
        assert state_of(test) == "draft"

    def test_a_release_manager_may_manage_anyones_test(self, make_test, release_manager):
        test = make_test()
        services.abtest_start(test=test, actor=release_manager)
        services.abtest_pause(test=test, actor=release_manager)
        services.abtest_conclude(test=test, actor=release_manager, reason="done")
        assert state_of(test) == "concluded"


class TestOneRunningTestPerModel:
    def test_a_second_running_test_of_the_model_is_refused(self, make_test, researcher,
                                                           release_manager):
        first, second = make_test(), make_test(name="another")
        services.abtest_start(test=first, actor=release_manager)
        with pytest.raises(AnotherTestRunning) as caught:
            services.abtest_start(test=second, actor=release_manager)
        assert caught.value.details == {"running_test_id": first.pk}
        assert state_of(second) == "draft"

    def test_a_paused_test_frees_the_model_and_cannot_resume_while_another_runs(
        self, make_test, researcher, release_manager
    ):
        first, second = make_test(), make_test(name="another")
        services.abtest_start(test=first, actor=release_manager)
        services.abtest_pause(test=first, actor=researcher)
        services.abtest_start(test=second, actor=release_manager)
        with pytest.raises(AnotherTestRunning):
            services.abtest_start(test=first, actor=release_manager)

    def test_the_database_refuses_two_running_tests_even_without_the_service(
            self, make_test, researcher, release_manager):
        first, second = make_test(), make_test(name="another")
        services.abtest_start(test=first, actor=release_manager)
        with pytest.raises(IntegrityError), transaction.atomic():
            ABTest.objects.filter(pk=second.pk).update(state="running")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_of_two_tests_of_one_model_let_exactly_one_run(make_test,
                                                                        release_manager):
    tests = [make_test(), make_test(name="another")]

    def start(test: ABTest) -> str:
        try:
            services.abtest_start(test=test, actor=release_manager)
        except AnotherTestRunning:
            return "refused"
        return "started"

    outcomes = run_concurrently([functools.partial(start, t) for t in tests])
    assert sorted(outcomes) == ["refused", "started"]
    assert ABTest.objects.filter(state="running").count() == 1

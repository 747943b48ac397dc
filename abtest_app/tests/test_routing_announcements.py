"""Starting or stopping a test changes how a model's traffic is split: serving is told."""

import pytest

from abtest_app import services
from abtest_app.errors import ABTestTransitionRefused
from abtest_app.signals import abtest_routing_changed

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    seen = []

    def receiver(sender, **kwargs):
        seen.append((kwargs["model_name"], kwargs["state"]))

    abtest_routing_changed.connect(receiver, weak=False)
    yield seen
    abtest_routing_changed.disconnect(receiver)


def test_start_pause_and_cancel_are_announced_after_commit(
        make_test, researcher, announced, django_capture_on_commit_callbacks, release_manager):
    test = make_test()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.abtest_start(test=test, actor=release_manager)
    assert announced == []
    for callback in callbacks:
        callback()
    assert announced == [("ranking", "running")]
    with django_capture_on_commit_callbacks(execute=True):
        services.abtest_pause(test=test, actor=researcher)
        services.abtest_cancel(test=test, actor=researcher, reason="wrong metric")
    assert announced[1:] == [("ranking", "paused"), ("ranking", "cancelled")]


def test_serving_bumps_the_models_generation(make_test, researcher,
                                             django_capture_on_commit_callbacks, release_manager):
    from serving_app.generation import generations_read

    before = generations_read().get("ranking", 0)
    with django_capture_on_commit_callbacks(execute=True):
        services.abtest_start(test=make_test(), actor=release_manager)
    assert generations_read()["ranking"] == before + 1


def test_a_refused_start_announces_nothing(make_test, researcher, announced,
                                           django_capture_on_commit_callbacks, release_manager):
    test = make_test()
    services.abtest_start(test=test, actor=release_manager)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ABTestTransitionRefused):
        services.abtest_start(test=test, actor=release_manager)
    assert announced == []

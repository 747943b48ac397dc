"""Many first requests at once, across several models, in a process that just started."""

from __future__ import annotations

import functools
import sys

import pytest

from axion_registry.testing import run_concurrently
from models_app.services import model_create
from serving_app.runtime import ServingRuntime, reset_runtime
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = 16
REQUESTS = 320
RESTARTS = 3


@pytest.fixture
def frequent_thread_switches():
    """Switch threads every few microseconds, so races show within a few hundred requests."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def first_requests(runtime: ServingRuntime) -> list[tuple[int, float]]:
    """REQUESTS first requests spread over the models, all released at once."""
    def first_request(i: int) -> tuple[int, float]:
        model = i % MODELS
        rows = [{"f0": 0.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]
        return model, runtime.predict(f"cold-{model}", rows).predictions[0]

    return run_concurrently([functools.partial(first_request, i) for i in range(REQUESTS)])


def test_concurrent_first_requests_across_models_never_fail(deploy, frequent_thread_switches):
    for i in range(MODELS):
        name = f"cold-{i}"
        model_create(name=name, gates={"load_check": False})
        deploy(ConstantModel(float(i)), "1.0.0", model_name=name)
    for _ in range(RESTARTS):
        runtime = ServingRuntime(background=True, check_interval_ms=0)
        reset_runtime(runtime)
        try:
            answers = first_requests(runtime)  # raises if any request failed
        finally:
            runtime.wait_idle()
            reset_runtime(None)
        assert sorted(answers) == sorted((i % MODELS, float(i % MODELS)) for i in range(REQUESTS))

"""Many first requests at once, across several models, in a process that just started."""

from __future__ import annotations

import sys
import threading

import pytest
from django.db import connection

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


def first_requests(runtime: ServingRuntime) -> tuple[list, list]:
    """REQUESTS first requests spread over the models, in waves that start together."""
    barrier = threading.Barrier(REQUESTS // MODELS)
    errors: list[BaseException] = []
    answers: list[tuple[int, float]] = []

    def first_request(i: int) -> None:
        try:
            barrier.wait()
            model = i % MODELS
            rows = [{"f0": 0.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]
            answers.append((model, runtime.predict(f"cold-{model}", rows).predictions[0]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request, args=(i,)) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors, answers


def test_concurrent_first_requests_across_models_never_fail(deploy, frequent_thread_switches):
    for i in range(MODELS):
        name = f"cold-{i}"
        model_create(name=name, gates={"load_check": False})
        deploy(ConstantModel(float(i)), "1.0.0", model_name=name)
    for _ in range(RESTARTS):
        runtime = ServingRuntime(background=True, check_interval_ms=0)
        reset_runtime(runtime)
        errors, answers = first_requests(runtime)
        runtime.wait_idle()
        reset_runtime(None)
        assert errors == []
        assert sorted(answers) == sorted((i % MODELS, float(i % MODELS)) for i in range(REQUESTS))

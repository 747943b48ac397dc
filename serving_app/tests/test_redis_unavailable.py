"""Redis unreachable: predictions and the API keep working, deployments are noticed through
the database."""

from __future__ import annotations

import socket

import pytest

from serving_app.runtime import ServingRuntime
from serving_app.tests.mock_models import ConstantModel

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


@pytest.fixture
def redis_away(settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"


def test_deployments_reach_another_process_through_the_database(redis_away, deploy, api):
    deploy(ConstantModel(1.0), "1.0.0")
    other = ServingRuntime(background=False, check_interval_ms=0)
    try:
        assert other.predict("ranking", ROWS).version == "1.0.0"
        deploy(ConstantModel(2.0), "1.1.0")  # the generation bump cannot reach Redis
        answer = other.predict("ranking", ROWS)
        assert (answer.version, answer.predictions) == ("1.1.0", [2.0])
    finally:
        other.close()
    assert api.get("/api/v1/models/ranking/").status_code == 200
    served = api.post("/api/v1/serve/ranking/predict/", {"records": ROWS}, format="json")
    assert (served.status_code, served.json()["version"]) == (200, "1.1.0")

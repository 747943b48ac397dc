from __future__ import annotations

import pytest


@pytest.fixture
def start_run(api):
    """Start a run through the API; returns its JSON."""

    def start(experiment: str = "ranking-lgbm", **fields):
        response = api.post("/api/v1/runs/", {"experiment": experiment, **fields},
                            format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return start


@pytest.fixture
def log_batch(api):
    def log(run_id: str, expected: int = 200, **body):
        response = api.post(f"/api/v1/runs/{run_id}/log-batch/", body, format="json")
        assert response.status_code == expected, response.json()
        return response.json()

    return log


@pytest.fixture
def end_run(api):
    def end(run_id: str, status: str = "finished"):
        response = api.post(f"/api/v1/runs/{run_id}/end/", {"status": status}, format="json")
        assert response.status_code == 200, response.json()
        return response.json()

    return end


def points(key: str, values, start_step: int = 0):
    return [{"key": key, "value": value, "step": start_step + number}
            for number, value in enumerate(values)]

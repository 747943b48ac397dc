from __future__ import annotations

import os

import pytest


def _reset_mlflow() -> None:
    import mlflow
    from mlflow.tracking import fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # set_experiment sets it
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
    mlflow.set_tracking_uri("")


@pytest.fixture(autouse=True)
def _forget_basic_credentials():
    from mlflow_app.auth import forget_credentials

    forget_credentials()


@pytest.fixture
def token_for(db):
    from rest_framework.authtoken.models import Token

    def token(user) -> str:
        return Token.objects.get_or_create(user=user)[0].key

    return token


@pytest.fixture
def tracking(live_server, researcher, token_for, monkeypatch):
    """The real mlflow client, pointed at a live Axion as the researcher (her API token)."""
    import mlflow

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token_for(researcher))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    _reset_mlflow()
    mlflow.set_tracking_uri(live_server.url)
    yield mlflow
    _reset_mlflow()


@pytest.fixture
def client(tracking):
    from mlflow import MlflowClient

    return MlflowClient()


@pytest.fixture
def as_user(monkeypatch, token_for):
    """Switch the client's token to another user's."""

    def switch(user) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token_for(user))

    return switch

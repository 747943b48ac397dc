from __future__ import annotations

import io
import pickle

import pytest

from models_app.tests.hostile.fixtures import hostile_corpus  # noqa: F401

SIGNATURE = {"inputs": [{"name": f"f{i}", "type": "double"} for i in range(4)],
             "outputs": [{"name": "label", "type": "long"}]}
EXAMPLE = [{"f0": 0.5, "f1": -0.2, "f2": 0.1, "f3": 1.0}]


@pytest.fixture(autouse=True)
def serving_settings(settings):
    settings.SERVING_FLUSH_SECONDS = 0
    settings.SERVING_GENERATION_CHECK_MS = 0
    # The mock models are admitted as platform classes, not by loosening the allowlist.
    settings.PLATFORM_MODEL_PACKAGE = [*settings.PLATFORM_MODEL_PACKAGE, "serving_app.tests"]
    return settings


@pytest.fixture
def runtime(serving_settings):
    """A fresh, synchronous runtime installed as this process's (a cold process)."""
    from axion_registry.authentication import forget_tokens
    from serving_app.runtime import ServingRuntime, reset_runtime

    forget_tokens()
    runtime = ServingRuntime(background=False, check_interval_ms=0)
    reset_runtime(runtime)
    yield runtime
    reset_runtime(None)


@pytest.fixture
def deploy(registered_model, release_manager):
    """Register a version of `ranking` from an object (pickled) or bytes, and promote it."""
    from models_app import services

    def deploy(obj=None, version=None, *, promote=True, model_name="ranking", content=None,
               signature=SIGNATURE, input_example=EXAMPLE, artifact_format="pickle", **fields):
        if content is None:
            content = pickle.dumps(obj)
        row = services.version_register(
            model_name=model_name, artifact=io.BytesIO(content), version=version,
            framework=fields.pop("framework", "sklearn"), artifact_format=artifact_format,
            signature=signature, input_example=input_example, metrics={"auc": 0.8}, **fields,
        )
        if promote:
            services.version_transition(version=row, to="staging", actor=release_manager)
            services.version_promote(version=row, actor=release_manager, reason="test")
            row.refresh_from_db()
        return row

    return deploy

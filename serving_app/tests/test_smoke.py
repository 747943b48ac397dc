import pytest

from serving_app.runtime import predict

pytestmark = pytest.mark.django_db


def test_it_serves_the_production_version(runtime, deploy, sklearn_model):
    deploy(sklearn_model, "1.0.0")
    result = predict("ranking", [{"f0": 1.0, "f1": 1.0, "f2": 0.0, "f3": 0.0}])
    assert result.version == "1.0.0"
    assert result.predictions == [1]

"""One registered model's MLflow answer, read in three compiled queries, is the answer the
general (any number of models) path gives, whatever its versions, stages and aliases."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlflow_app import registry_selectors as selectors
from mlflow_app.errors import MlflowError
from mlflow_app.models import VersionDeletion
from models_app.choices import Stage
from models_app.models import RegisteredModel
from models_app.services import alias_set, model_create, version_promote, version_transition


def _general(model: RegisteredModel) -> dict:
    return selectors.models_answer([RegisteredModel.objects.get(pk=model.pk)])[0]


def _both_agree(model: RegisteredModel) -> dict:
    answer = _general(model)
    assert selectors.model_answer(model) == answer
    assert selectors.model_answer_by_name(model.name) == answer
    return answer


def test_a_model_without_versions(registered_model):
    answer = _both_agree(registered_model)
    assert answer["latest_versions"] == [] and answer["aliases"] == []


def test_a_model_without_an_owner(db):
    model = model_create(name="orphan", description="", gates={"load_check": False}, owner=None)
    assert _both_agree(model)["user_id"] == ""


@pytest.fixture
def lived(register_version, registered_model, release_manager):
    """Versions in every stage, a deleted one, aliases on visible and deleted versions."""
    made = [register_version(f"{n}.0.0", tags={"n": str(n)}) for n in range(1, 9)]
    for version in made[1:6]:
        version_transition(version=version, to=Stage.STAGING, actor=release_manager)
    version_promote(version=made[1], actor=release_manager)
    version_promote(version=made[2], actor=release_manager)  # archives made[1]
    version_transition(version=made[3], to=Stage.DEPRECATED, actor=release_manager)
    for alias, version in (("champion", made[2]), ("old", made[1]), ("gone", made[7]),
                           ("z-last", made[4])):
        alias_set(model=registered_model, alias=alias, version=version, actor=release_manager)
    VersionDeletion.objects.create(version=made[7], deleted_by=release_manager)
    return made


def test_a_model_whose_versions_went_everywhere(lived, registered_model):
    answer = _both_agree(registered_model)
    shown = {v["current_stage"]: v["version"] for v in answer["latest_versions"]}
    # newest per MLflow stage; the deleted version 8 never shows, deprecated 4 reads Archived
    assert shown == {"None": "7", "Staging": "6", "Production": "3", "Archived": "4"}
    assert [a["alias"] for a in answer["aliases"]] == ["champion", "old", "z-last"]


def test_three_queries_and_a_miss_refused_as_before(lived, registered_model):
    selectors.model_answer_by_name("ranking")  # compiled on first use
    with CaptureQueriesContext(connection) as queries:
        selectors.model_answer_by_name("ranking")
    assert len(queries) == 3
    for name in ("nope", ""):
        with pytest.raises(MlflowError) as caught:
            selectors.model_answer_by_name(name)
        with pytest.raises(MlflowError) as expected:
            selectors.model_by_name(name)
        assert (caught.value.code, caught.value.message) == (
            expected.value.code, expected.value.message)


def test_the_model_answer_queries_compile_rather_than_fall_back_to_the_orm(lived,
                                                                          registered_model):
    selectors.model_answer_by_name("ranking")
    selectors.model_answer(registered_model)
    for compiled in (selectors._MODEL_BY_NAME, selectors._MODEL_BY_PK,
                     selectors._NEWEST_PER_STAGE, selectors._MODEL_ALIASES):
        assert compiled._compiled["default"] is not None

"""Each version's per-model sequence number (MLflow's 1, 2, 3 beside the semver)."""

import io

import pytest
from django.db import IntegrityError, transaction

from axion_registry.testing import run_concurrently
from models_app import selectors, services
from models_app.errors import VersionNotFound
from models_app.models import ModelVersion


def test_versions_are_numbered_one_two_three_per_model_whatever_their_semver(
        register_version, registered_model):
    services.model_create(name="regime")
    first = register_version("2.0.0")
    second = register_version("1.5.0")
    other = register_version(model_name="regime")
    third = register_version(bump="major")
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert third.version == "3.0.0"
    assert other.sequence == 1


def test_version_by_sequence_finds_the_version_and_404s_an_unknown_number(
        register_version, registered_model):
    register_version("1.0.0")
    second = register_version("1.1.0")
    assert selectors.version_by_sequence(model=registered_model, sequence=2) == second
    with pytest.raises(VersionNotFound, match="no version number 3"):
        selectors.version_by_sequence(model=registered_model, sequence=3)


def test_the_database_refuses_two_versions_with_one_number(register_version,
                                                           registered_model):
    version = register_version("1.0.0")
    row = ModelVersion.objects.get(pk=version.pk)
    row.pk, row.version, row.minor = None, "1.1.0", 1
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_versions_in_registration_order_per_model():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = ("models_app", "0007_aliases_and_sequence"), ("models_app",
                                                                  "0009_sequence_required")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps
    models = old.get_model("models_app", "RegisteredModel")
    versions = old.get_model("models_app", "ModelVersion")
    ranking, regime = models.objects.create(name="ranking"), models.objects.create(name="regime")
    made = {}
    for model, semver in [(ranking, "3.0.0"), (regime, "1.0.0"), (ranking, "1.0.0"),
                          (ranking, "2.0.0")]:
        major, minor, patch = map(int, semver.split("."))
        made[(model.name, semver)] = versions.objects.create(
            model=model, version=semver, major=major, minor=minor, patch=patch,
            framework="sklearn", artifact_format="pickle", artifact_path="x",
            artifact_sha256="0" * 64, artifact_size=1).pk
    executor = MigrationExecutor(connection)
    executor.migrate([after])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # whatever later apps added, too
    numbers = dict(ModelVersion.objects.values_list("pk", "sequence"))
    assert [numbers[made[("ranking", v)]] for v in ("3.0.0", "1.0.0", "2.0.0")] == [1, 2, 3]
    assert numbers[made[("regime", "1.0.0")]] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_consecutive_numbers(registered_model,
                                                                   sklearn_pickle):
    def register():
        return services.version_register(
            model_name="ranking", artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
            artifact_format="pickle", bump="patch")

    versions = run_concurrently([register] * 12)  # raises if any registration failed
    assert sorted(v.sequence for v in versions) == list(range(1, 13))
    # The numbers follow the semver the same lock chose: 1.0.0 is 1, 1.0.1 is 2, ...
    by_patch = sorted(versions, key=lambda v: (v.major, v.minor, v.patch))
    assert [v.sequence for v in by_patch] == list(range(1, 13))

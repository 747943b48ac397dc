"""Migration 0003 (the metric pyramid) runs forwards and backwards without touching the big
metric table's rows or indexes."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from experiments_app.models import Metric


def test_the_pyramid_migration_never_alters_the_metric_table():
    migration = MigrationLoader(None).get_migration("experiments_app", "0003_metric_pyramid")
    touched = {getattr(operation, "model_name", None) or getattr(operation, "name", "")
               for operation in migration.operations}
    assert "metric" not in {name.lower() for name in touched}


@pytest.mark.django_db(transaction=True)
def test_the_pyramid_migration_runs_backwards_and_forwards():
    call_command("migrate", "experiments_app", "0002", verbosity=0)
    assert "experiments_app_metricbucket" not in connection.introspection.table_names()
    call_command("migrate", "experiments_app", verbosity=0)
    assert "experiments_app_metricbucket" in connection.introspection.table_names()
    assert Metric._meta.db_table in connection.introspection.table_names()

"""(model, stage, semver descending): the latest version in a stage, and a stage search's
pages in the list order, read as one index range. Built CONCURRENTLY on PostgreSQL, so
writes go on meanwhile."""

from django.db import migrations, models

from axion_registry.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('models_app', '0013_version_redundant_indexes'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='modelversion',
            index=models.Index(fields=['model', 'stage', '-major', '-minor', '-patch'],
                               name='version_stage_semver_desc'),
        ),
    ]

"""An index on the artifact path, for registration's folder check (a sequential scan of
every version before): built CONCURRENTLY on PostgreSQL, so writes go on meanwhile."""

from django.db import migrations, models

from axion_registry.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('models_app', '0011_version_metric_rows'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='modelversion',
            index=models.Index(fields=['artifact_path'], name='version_artifact_path'),
        ),
    ]

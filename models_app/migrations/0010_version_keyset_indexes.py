"""Indexes for the version lists at scale (issue 18), safe to run while the old code serves:
on PostgreSQL every index is built CONCURRENTLY (no lock that blocks writes, hence
atomic = False) and nothing rewrites the table; the ordering change is state only."""

from django.db import migrations, models

from axion_registry.migration_operations import AddIndexConcurrentlyOnPostgres

TAGS_GIN = "version_tags_gin"


def tags_gin_create(apps, schema_editor):
    """tags ? key and tags @> {key: value} through a GIN index (PostgreSQL only; SQLite
    has no GIN and reads the tags of every candidate row)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TAGS_GIN} "
                              "ON model_versions USING gin (tags)")


def tags_gin_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TAGS_GIN}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('models_app', '0009_sequence_required'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='modelversion',
            options={'ordering': ['model_id', '-major', '-minor', '-patch'], 'permissions': [('promote_modelversion', 'Can promote a version to production or roll back'), ('publish_modelversion', 'Can register versions of any model')]},
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='modelversion',
            index=models.Index(fields=['model', '-major', '-minor', '-patch'], name='version_semver_desc'),
        ),
        migrations.RunPython(tags_gin_create, tags_gin_drop, elidable=False),
    ]

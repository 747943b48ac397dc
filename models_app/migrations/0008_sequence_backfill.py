"""Number the existing versions of each model 1, 2, 3 in the order they were registered."""

from django.db import migrations, transaction

BATCH = 500


def number_versions(apps, schema_editor):
    ModelVersion = apps.get_model("models_app", "ModelVersion")
    model_ids = (ModelVersion.objects.filter(sequence__isnull=True)
                 .values_list("model_id", flat=True).distinct())
    for model_id in list(model_ids):
        versions = ModelVersion.objects.filter(model_id=model_id)
        ids = list(versions.order_by("created_at", "id").values_list("id", flat=True))
        for start in range(0, len(ids), BATCH):
            batch = ModelVersion.objects.in_bulk(ids[start:start + BATCH])
            for offset, pk in enumerate(ids[start:start + BATCH]):
                batch[pk].sequence = start + offset + 1
            with transaction.atomic():
                ModelVersion.objects.bulk_update(batch.values(), ["sequence"])


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch: a big registry is never locked whole

    dependencies = [("models_app", "0007_aliases_and_sequence")]

    operations = [migrations.RunPython(number_versions, migrations.RunPython.noop)]

from django.db import migrations


def create_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("models_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="release managers")
    group.permissions.add(
        Permission.objects.get(codename="promote_modelversion", content_type__app_label="models_app")
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="release managers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]

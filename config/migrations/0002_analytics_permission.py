"""The charts page's permission (``tally.view_analytics``, on a model without a table) for
risk managers, CS supervisors and operations (docs/permissions.md)."""

from django.db import migrations, models

GRANTS = {name: ["tally.view_analytics"] for name in ("Risk manager", "CS supervisor", "Operations")}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions  # noqa: PLC0415 - as Django's own migrations do

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, labels in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for label in labels:
            app_label, codename = label.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="tally", codename="view_analytics").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tally", "0001_database_owner"),
        ("accounts", "0003_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="Analytics",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "verbose_name": "analytics",
                "verbose_name_plural": "analytics",
                "permissions": [("view_analytics", "Can view the analytics charts")],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(grant, revoke),
    ]

"""CS agents and CS supervisors may export the complaints list as CSV (docs/permissions.md)."""

from django.db import migrations

GRANTS = {
    "CS agent": ["complaints.export_complaints"],
    "CS supervisor": ["complaints.export_complaints"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

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


class Migration(migrations.Migration):
    dependencies = [
        ("complaints", "0004_team_work"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

"""Operations and risk managers may retry a close's failed accounts by hand
(``cob.change_cobfailure``, docs/permissions.md)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTED_TO = ["Operations", "Risk manager"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="cob", codename="change_cobfailure")
    for group in Group.objects.filter(name__in=GRANTED_TO):
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("cob", "0002_failures_retried"),
        ("accounts", "0011_api_clients_and_close_runs_move_to_config"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

"""The collections desk's permissions (docs/permissions.md): a new "Collector" group works
accounts in collections (views the customers, accounts and collections queue, logs contacts and
promises to pay); risk managers assign accounts to collectors and may work them too; risk
managers, CS supervisors and operations export lists as CSV."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COLLECTOR = "Collector"
COLLECTOR_PERMISSIONS = [("accounts", "view_customer"), ("accounts", "view_creditaccount"),
                         ("installments", "work_collections")]
GRANTS = {
    "Risk manager": [("installments", "work_collections"), ("installments", "assign_collections"),
                     ("installments", "export_data")],
    "CS supervisor": [("installments", "export_data")],
    "Operations": [("installments", "export_data")],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    collector, _ = Group.objects.get_or_create(name=COLLECTOR)
    for app_label, codename in COLLECTOR_PERMISSIONS:
        collector.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    for name, perms in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("installments", "0007_collections_desk"),
        ("accounts", "0013_notification_delivery_retries"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

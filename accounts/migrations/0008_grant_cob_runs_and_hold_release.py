"""Operations and risk managers read the close-of-business runs; CS supervisors and risk
managers may release a restoration hold early."""

from django.db import migrations

GRANTS = {
    "Operations": [("accounts", "view_cobrun")],
    "Risk manager": [("accounts", "view_cobrun"), ("installments", "release_restorationhold")],
    "CS supervisor": [("installments", "release_restorationhold")],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GRANTS.items():
        group = Group.objects.get(name=name)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_creditaccount_collections_queue"),
        ("installments", "0003_alter_restorationhold_options"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

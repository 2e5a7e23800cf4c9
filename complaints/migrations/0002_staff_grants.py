"""Complaint and closure permissions for the staff groups (docs/permissions.md).

CS agents handle complaints and closure requests; CS supervisors also assign and reassign,
extend deadlines and approve waivers above 100.00; risk managers handle closure requests
(their system closure is ``accounts.close_account``)."""

from django.db import migrations

AGENT = [
    "complaints.view_complaint", "complaints.change_complaint", "complaints.handle_complaint",
    "complaints.view_closurerequest", "complaints.handle_closure",
]
GRANTS = {
    "CS agent": AGENT,
    "CS supervisor": [*AGENT, "complaints.reassign_complaint", "complaints.extend_deadline",
                      "complaints.approve_waiver"],
    "Risk manager": ["complaints.view_closurerequest", "complaints.handle_closure"],
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
        ("complaints", "0001_initial"),
        ("accounts", "0008_grant_cob_runs_and_hold_release"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

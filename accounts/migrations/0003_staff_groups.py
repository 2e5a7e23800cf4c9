"""Staff groups and their permissions (docs/permissions.md is the matrix)."""

from django.db import migrations

GROUPS = {
    "Risk reviewer": [
        "risk.view_application", "risk.view_reviewcase", "risk.change_reviewcase", "risk.decide_application",
        "risk.view_scoringpolicy", "accounts.view_customer", "accounts.view_creditaccount",
    ],
    "Risk manager": [
        "risk.view_application", "risk.view_reviewcase", "risk.change_reviewcase", "risk.decide_application",
        "risk.confirm_high_limit", "risk.view_scoringpolicy", "risk.add_scoringpolicy",
        "risk.change_scoringpolicy", "risk.edit_policy", "risk.activate_policy",
        "accounts.view_customer", "accounts.view_creditaccount", "accounts.freeze_account",
        "accounts.write_off_account", "accounts.close_account", "accounts.view_auditevent",
    ],
    "CS agent": [
        "risk.view_application", "accounts.view_customer", "accounts.view_creditaccount",
        "accounts.view_notification",
    ],
    "CS supervisor": [
        "risk.view_application", "accounts.view_customer", "accounts.view_creditaccount",
        "accounts.view_notification", "accounts.view_auditevent",
    ],
    "Operations": [
        "django_celery_beat.view_periodictask", "django_celery_beat.change_periodictask",
        "django_celery_beat.view_intervalschedule", "django_celery_beat.view_crontabschedule",
        "django_celery_beat.change_crontabschedule", "django_celery_beat.change_intervalschedule",
        "accounts.view_businesscalendar", "accounts.view_notification",
    ],
}


# Later grants (0005) are listed here too so tests that recreate groups match a migrated database.
_CS_COMPLAINTS = [
    "complaints.view_complaint", "complaints.change_complaint", "complaints.handle_complaint",
    "complaints.view_closurerequest", "complaints.handle_closure",
]
LATER_GRANTS = {
    "CS agent": ["risk.view_reviewcase", *_CS_COMPLAINTS],
    "CS supervisor": ["risk.view_reviewcase", "installments.release_restorationhold", *_CS_COMPLAINTS,
                      "complaints.reassign_complaint", "complaints.extend_deadline", "complaints.approve_waiver"],
    "Operations": ["accounts.view_cobrun"],
    "Risk manager": ["accounts.view_cobrun", "installments.release_restorationhold",
                     "complaints.view_closurerequest", "complaints.handle_closure"],
}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for label in perms:
            app_label, codename = label.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_initial"),
        ("risk", "0002_policy_version_1"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]

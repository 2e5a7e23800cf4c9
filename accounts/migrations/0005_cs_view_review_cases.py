"""CS agents and supervisors may look at the review queue (read only)."""

from django.db import migrations


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="risk", codename="view_reviewcase")
    for name in ("CS agent", "CS supervisor"):
        Group.objects.get(name=name).permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_journalentry_journalline_and_more")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

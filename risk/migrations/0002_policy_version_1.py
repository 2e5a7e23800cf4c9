"""Version 1 of the scoring policy: the defaults of docs/rules.md, active from the start."""

from django.db import migrations


def create_version_1(apps, schema_editor):
    from risk.policy import DEFAULT_POLICY

    ScoringPolicy = apps.get_model("risk", "ScoringPolicy")
    if not ScoringPolicy.objects.filter(version=1).exists():
        ScoringPolicy.objects.create(version=1, status="active", params=DEFAULT_POLICY.to_json(),
                                     notes="Defaults of docs/rules.md (created by migration).")


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(create_version_1, migrations.RunPython.noop)]

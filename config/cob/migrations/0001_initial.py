"""CobRun, CobStepRun and CobFailure move here from ``accounts``: their tables stay as they are
(state only); their content types follow them, so granted permissions are kept."""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ["cobrun", "cobsteprun", "cobfailure"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="accounts", model__in=MODELS).update(app_label="cob")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="cob", model__in=MODELS).update(app_label="accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0010_status_change_labels"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name="CobRun",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("business_date", models.DateField(unique=True, verbose_name="business date")),
                    ("status", models.CharField(default="running", max_length=12, verbose_name="status")),
                    ("started_at", models.DateTimeField(auto_now_add=True, verbose_name="started at")),
                    ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                    ("attempts", models.PositiveSmallIntegerField(default=1, verbose_name="attempts")),
                ],
                options={"verbose_name": "close of business run", "verbose_name_plural": "close of business runs",
                         "ordering": ["-business_date"], "db_table": "accounts_cobrun"},
            ),
            migrations.CreateModel(
                name="CobStepRun",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("position", models.PositiveSmallIntegerField(verbose_name="position")),
                    ("step", models.CharField(max_length=40, verbose_name="step")),
                    ("status", models.CharField(default="running", max_length=12, verbose_name="status")),
                    ("accounts", models.PositiveIntegerField(default=0, verbose_name="accounts")),
                    ("processed", models.PositiveIntegerField(default=0, verbose_name="processed")),
                    ("failures", models.PositiveIntegerField(default=0, verbose_name="failures")),
                    ("detail", models.JSONField(blank=True, default=dict, verbose_name="detail")),
                    ("started_at", models.DateTimeField(auto_now_add=True, verbose_name="started at")),
                    ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                    ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="steps",
                                              to="cob.cobrun", verbose_name="run")),
                ],
                options={"verbose_name": "close of business step", "verbose_name_plural": "close of business steps",
                         "ordering": ["run", "position", "id"], "db_table": "accounts_cobsteprun"},
            ),
            migrations.CreateModel(
                name="CobFailure",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("error", models.TextField(verbose_name="error")),
                    ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                    ("account", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                  related_name="cob_failures", to="accounts.creditaccount",
                                                  verbose_name="account")),
                    ("step_run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                   related_name="failure_rows", to="cob.cobsteprun",
                                                   verbose_name="step run")),
                ],
                options={"verbose_name": "close of business failure",
                         "verbose_name_plural": "close of business failures", "ordering": ["-id"],
                         "db_table": "accounts_cobfailure"},
            ),
        ]),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]

"""ApiClient and IdempotencyRecord move here from ``accounts``: their tables stay as they are
(state only); their content types follow them, so granted permissions are kept."""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ["apiclient", "idempotencyrecord"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="accounts", model__in=MODELS).update(app_label="api")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="api", model__in=MODELS).update(app_label="accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0010_status_change_labels"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name="ApiClient",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                    ("token_hash", models.CharField(max_length=64, unique=True, verbose_name="token hash")),
                    ("token_prefix", models.CharField(max_length=8, verbose_name="token prefix")),
                    ("is_active", models.BooleanField(default=True, verbose_name="is active")),
                    ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                    ("rotated_at", models.DateTimeField(auto_now=True, verbose_name="rotated at")),
                ],
                options={"verbose_name": "API client", "verbose_name_plural": "API clients",
                         "db_table": "accounts_apiclient"},
            ),
            migrations.CreateModel(
                name="IdempotencyRecord",
                fields=[
                    ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ("key", models.CharField(max_length=255, verbose_name="key")),
                    ("method", models.CharField(max_length=8, verbose_name="method")),
                    ("path", models.CharField(max_length=255, verbose_name="path")),
                    ("request_hash", models.CharField(max_length=64, verbose_name="request hash")),
                    ("completed", models.BooleanField(default=False, verbose_name="completed")),
                    ("response_status", models.PositiveSmallIntegerField(null=True, verbose_name="response status")),
                    ("response_body", models.JSONField(null=True, verbose_name="response body")),
                    ("created_at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="created at")),
                    ("locked_until", models.DateTimeField(verbose_name="locked until")),
                    ("client", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+",
                                                 to="api.apiclient", verbose_name="client")),
                ],
                options={"verbose_name": "idempotency record", "verbose_name_plural": "idempotency records",
                         "db_table": "accounts_idempotencyrecord",
                         "constraints": [models.UniqueConstraint(fields=("client", "key"),
                                                                 name="idempotency_key_per_client")]},
            ),
        ]),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]

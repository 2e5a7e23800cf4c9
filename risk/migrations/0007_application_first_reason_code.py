"""The charts page (config/analytics/activations.py) counts applications per day by status,
first reason code and identity attempts: the first reason's code as a stored generated column
of ``reasons`` (PostgreSQL computes it on every write; adding it rewrites the table once), and
the index on ``business_date`` covering the columns the count reads (docs/decisions/0036)."""

import django.db.models.fields.json
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0017_roll_rate_indexes'),
        ('risk', '0006_analytics_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='application',
            name='application_business_date',
        ),
        migrations.AddField(
            model_name='application',
            name='first_reason_code',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.fields.json.KeyTextTransform('code', django.db.models.fields.json.KeyTextTransform('0', 'reasons')), output_field=models.CharField(max_length=64, null=True), verbose_name='first reason code'),
        ),
        migrations.AddIndex(
            model_name='application',
            index=models.Index(fields=['business_date'], include=('status', 'identity_attempts', 'first_reason_code'), name='application_business_date_cov'),
        ),
    ]

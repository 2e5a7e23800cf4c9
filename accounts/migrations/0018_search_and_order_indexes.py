"""The audit trail's list orders newest first by ``(created_at, id)``: one index on both walks
to any page in order (it replaces the index on ``created_at`` alone, which it also serves;
docs/decisions/0036)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0017_roll_rate_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='created_at',
            field=models.DateTimeField(auto_now_add=True, verbose_name='created at'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['created_at', 'id'], name='auditevent_created_at_id'),
        ),
    ]

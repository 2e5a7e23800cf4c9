"""The back office's lists search a merchant order id, a repayment reference and a gateway
reference whole, by index; the holds list walks ``(release_at, id)`` in order (it replaces
the index on ``release_at`` alone). docs/decisions/0036."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0018_search_and_order_indexes'),
        ('installments', '0009_chart_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='restorationhold',
            name='release_at',
            field=models.DateTimeField(verbose_name='release at'),
        ),
        migrations.AddIndex(
            model_name='paymentattempt',
            index=models.Index(fields=['gateway_reference'], name='attempt_gateway_reference'),
        ),
        migrations.AddIndex(
            model_name='purchase',
            index=models.Index(fields=['merchant_order_id'], name='purchase_merchant_order_id'),
        ),
        migrations.AddIndex(
            model_name='repayment',
            index=models.Index(fields=['reference'], name='repayment_reference'),
        ),
        migrations.AddIndex(
            model_name='restorationhold',
            index=models.Index(fields=['release_at', 'id'], name='hold_release_at_id'),
        ),
    ]

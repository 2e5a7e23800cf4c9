"""Applications per business day (the charts page, config/analytics): an index on
``business_date`` so the page's count is a range scan, not a scan of every application."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0005_policy_authors"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="application",
            index=models.Index(fields=["business_date"], name="application_business_date"),
        ),
    ]

"""The back office's search of customers by the start of their name (accounts/name_search.py,
decision 0033): an index on UPPER(name) in the "C" collation, where a LIKE 'prefix%' is an
index range scan whatever the database's own collation."""

import django.db.models.functions.comparison
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0014_staff_inbox"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(django.db.models.functions.comparison.Collate(
                django.db.models.functions.text.Upper("name"), "C"), name="customer_name_prefix"),
        ),
    ]

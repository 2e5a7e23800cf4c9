"""The storefront's API clients and idempotency records moved to ``config.api``, the nightly
close's run records to ``config.cob`` (state only: the tables stay)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_status_change_labels"),
        ("api", "0001_initial"),
        ("cob", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.DeleteModel(name="IdempotencyRecord"),
            migrations.DeleteModel(name="ApiClient"),
            migrations.DeleteModel(name="CobFailure"),
            migrations.DeleteModel(name="CobStepRun"),
            migrations.DeleteModel(name="CobRun"),
        ]),
    ]

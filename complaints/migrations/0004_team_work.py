"""Complaints team work (decision 0033): each deadline is warned about once
(``Complaint.due_warned_for``), the supervisors' queue of waivers awaiting approval (a partial
index, oldest first), and the permission to export the complaints list."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("complaints", "0003_verbose_names"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="complaint",
            options={"ordering": ["-id"], "permissions": [
                ("handle_complaint", "Can handle complaints (notes, replies, resolution, remedies)"),
                ("reassign_complaint", "Can assign and reassign complaints to any agent"),
                ("extend_deadline", "Can extend a complaint's final-response deadline"),
                ("approve_waiver", "Can approve fee and penalty waivers above the agent limit"),
                ("export_complaints", "Can export the complaints list as CSV")],
                "verbose_name": "complaint", "verbose_name_plural": "complaints"},
        ),
        migrations.AddField(
            model_name="complaint",
            name="due_warned_for",
            field=models.DateTimeField(blank=True, null=True, verbose_name="deadline warned about"),
        ),
        migrations.AddIndex(
            model_name="waiver",
            index=models.Index(condition=models.Q(("status", "pending")), fields=["created_at", "id"],
                               name="waiver_awaiting_approval"),
        ),
    ]

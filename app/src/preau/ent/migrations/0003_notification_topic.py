"""Notification.topic (expand): what a notification is about, so that a roll call correction
replaces a notification still held (issue #17). A database default keeps the previous release's
inserts working; the partial index is built concurrently (the table is large)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("ent", "0002_services_in_their_apps"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="topic",
            field=models.CharField(blank=True, db_default="", max_length=80),
        ),
        AddIndexConcurrently(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("topic", ""), _negated=True),
                fields=["establishment", "topic"],
                name="notification_topic",
            ),
        ),
    ]

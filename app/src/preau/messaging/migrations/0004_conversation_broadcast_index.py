"""Expand: the index of Conversation.broadcast (a group message's conversations: its read
receipts, its replies), built CONCURRENTLY on the existing conversations table so that the
previous release keeps writing messages meanwhile."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("messaging", "0003_groups_and_reports")]

    operations = [
        AddIndexConcurrently(
            model_name="conversation",
            index=models.Index(fields=["broadcast"], name="conversation_broadcast"),
        ),
    ]

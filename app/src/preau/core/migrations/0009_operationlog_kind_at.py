"""Expand: an index of the operations log by kind and time, built CONCURRENTLY (the previous
release keeps writing the log meanwhile): /metrics reads the AAF deltas' last runs at each
scrape (core/delta.py state), which would otherwise read the whole log."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("core", "0008_audit_messages_view")]

    operations = [
        AddIndexConcurrently(
            model_name="operationlog",
            index=models.Index(fields=["kind", "at"], name="core_operationlog_kind_at"),
        ),
    ]

"""Expand: view `preau_audit.messages` (the oldest message kept, how many), for the audit's
read-only check of the messages' retention (control DATA-06; [retention] messages_days,
purge_gone). Counts and a date only: no content, no sender, no establishment's name. SELECT
to pg_monitor, as core.0006 grants its views (the auditor's database role is a member).

A new view only: the previous release ignores it. A later migration that changes
ent_message.sent_at must drop and recreate it (PostgreSQL refuses to alter a column a view
uses).
"""

from django.db import migrations

VIEW = """
CREATE OR REPLACE VIEW preau_audit.messages AS
SELECT count(*) AS messages, min(sent_at) AS oldest FROM ent_message;

GRANT SELECT ON preau_audit.messages TO pg_monitor;
"""


class Migration(migrations.Migration):
    # Beside core.0006's views (the schema); ent_message and its sent_at since messaging's first
    # migration (not its last: a test migrates messaging back to 0001 and expects one pending).
    dependencies = [
        ("core", "0007_user_name_search"),
        ("messaging", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            VIEW,
            "DROP VIEW IF EXISTS preau_audit.messages",
            hints={"phase": "expand"},  # a new view only (core.migration_classify)
        ),
    ]

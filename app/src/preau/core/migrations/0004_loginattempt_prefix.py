"""Expand: core_loginattempt gets `prefix` (what the address throttle counts: the IPv4 address
or the IPv6 /64), empty by default in the database too (`ADD COLUMN ... DEFAULT '' NOT NULL`:
instant on PostgreSQL, and the previous release's INSERTs, which do not name it, still work),
and the indexes of preau.core.throttle's queries: (prefix, at) and (username, at), built
CONCURRENTLY (the table is a year of connection log, and the previous release keeps inserting
into it meanwhile). Rows of the previous release have no prefix: they count for their account
only. Not a contract migration."""
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("core", "0003_user_email_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="loginattempt",
            name="prefix",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        AddIndexConcurrently(
            model_name="loginattempt",
            index=models.Index(fields=["prefix", "at"], name="core_loginattempt_prefix_at"),
        ),
        AddIndexConcurrently(
            model_name="loginattempt",
            index=models.Index(fields=["username", "at"], name="core_loginattempt_user_at"),
        ),
    ]

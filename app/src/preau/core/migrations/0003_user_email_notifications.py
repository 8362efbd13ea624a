"""Expand: core_user gets email_notifications, true by default in the database too
(`ADD COLUMN ... DEFAULT true NOT NULL`: instant on PostgreSQL, and the previous release's
INSERTs, which do not name the column, still work). Not a contract migration."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0002_session_user"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_notifications",
            field=models.BooleanField(db_default=True, default=True, verbose_name="notifications par e-mail"),
        ),
    ]

"""Expand: django_session gets a nullable user_id (no default, no constraint: instant on
PostgreSQL, ignored by the previous release), so that preau.core.sessions reads a page's
session and user in one query."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE django_session ADD COLUMN IF NOT EXISTS user_id bigint NULL",
            "ALTER TABLE django_session DROP COLUMN IF EXISTS user_id",
            hints={"phase": "expand"},  # a nullable column (core.migration_classify)
        ),
        migrations.CreateModel(
            name="UserSession",
            fields=[
                ("session_key", models.CharField(max_length=40, primary_key=True, serialize=False,
                                                 verbose_name="session key")),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                ("user", models.ForeignKey(db_constraint=False, null=True, on_delete=models.DO_NOTHING,
                                           related_name="+", to="core.user")),
            ],
            options={"db_table": "django_session", "managed": False},
        ),
    ]

"""Expand: a news item can target classes (issue #19 item 5): `class_ids`, the ids of the
classes it is for, empty for every class. `ADD COLUMN ... DEFAULT '{}' NOT NULL` is instant on
PostgreSQL, and the previous release's INSERTs, which do not name it, get the database's
default: every existing and old-release item stays for the whole establishment."""

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("news", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="newsitem",
            name="class_ids",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.IntegerField(),
                blank=True,
                db_default=[],
                default=list,
                help_text="Empty = all",
                size=None,
            ),
        ),
    ]

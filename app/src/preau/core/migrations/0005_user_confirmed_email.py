"""Expand: core_user gets confirmed_email ('' by default in the database too, so the previous
release's INSERTs still work) and email_confirmed_at (nullable): a confirmed address for
"Mot de passe oublié" (issue #19). Not a contract migration."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_loginattempt_prefix"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="confirmed_email",
            field=models.EmailField(blank=True, db_default="", default="", max_length=254),
        ),
        migrations.AddField(
            model_name="user",
            name="email_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

"""The models of this service were created by preau.ent's 0001 and keep their tables
(Meta.db_table): this migration takes them into this app's state only; ent's 0002 drops
them from its state and moves their content types (app README, "One app per service")."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("core", "0004_loginattempt_prefix"),
        ("ent", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SpacePost",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("title", models.CharField(blank=True, max_length=200)),
                        ("body", models.TextField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "last_activity_at",
                            models.DateTimeField(default=django.utils.timezone.now),
                        ),
                        (
                            "author",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "class_group",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="core.classgroup",
                            ),
                        ),
                        (
                            "establishment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="core.establishment",
                            ),
                        ),
                        (
                            "file",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="ent.storedfile",
                            ),
                        ),
                        (
                            "thread",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="replies",
                                to="spaces.spacepost",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_spacepost",
                        "ordering": ["created_at", "pk"],
                        "indexes": [
                            models.Index(
                                fields=["establishment", "class_group", "last_activity_at"],
                                name="ent_spacepo_establi_9916ca_idx",
                            )
                        ],
                    },
                ),
            ]
        ),
    ]

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
                    name="Conversation",
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
                        ("subject", models.CharField(max_length=200)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "last_message_at",
                            models.DateTimeField(default=django.utils.timezone.now),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
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
                    ],
                    options={
                        "db_table": "ent_conversation",
                        "ordering": ["-last_message_at"],
                    },
                ),
                migrations.CreateModel(
                    name="Message",
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
                        ("body", models.TextField()),
                        ("sent_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "attachment",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="ent.storedfile",
                            ),
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
                            "conversation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="messages",
                                to="messaging.conversation",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_message",
                        "ordering": ["sent_at", "pk"],
                        "indexes": [
                            models.Index(
                                fields=["conversation", "sent_at"],
                                name="ent_message_convers_7b1c21_idx",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Participant",
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
                        ("last_read_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "conversation",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="participants",
                                to="messaging.conversation",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_participant",
                        "indexes": [
                            models.Index(
                                fields=["user", "conversation"],
                                name="ent_partici_user_id_80de88_idx",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("conversation", "user"), name="participant_unique"
                            )
                        ],
                    },
                ),
            ]
        ),
    ]

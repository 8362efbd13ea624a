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
                    name="Absence",
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
                        ("date", models.DateField()),
                        ("start", models.TimeField()),
                        (
                            "kind",
                            models.CharField(
                                choices=[("absence", "Absence"), ("late", "Retard")],
                                default="absence",
                                max_length=8,
                            ),
                        ),
                        ("minutes_late", models.PositiveSmallIntegerField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("unjustified", "À justifier"),
                                    ("submitted", "Justificatif envoyé"),
                                    ("accepted", "Justifiée"),
                                    ("refused", "Justification refusée"),
                                ],
                                default="unjustified",
                                max_length=12,
                            ),
                        ),
                        ("reason", models.TextField(blank=True)),
                        ("justified_at", models.DateTimeField(blank=True, null=True)),
                        ("validated_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "class_group",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
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
                            "justified_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "recorded_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "student",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "subject",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="core.subject",
                            ),
                        ),
                        (
                            "validated_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_absence",
                        "ordering": ["-date", "-start"],
                        "indexes": [
                            models.Index(
                                fields=["establishment", "student", "date"],
                                name="ent_absence_establi_3a4deb_idx",
                            ),
                            models.Index(
                                fields=["establishment", "status", "date"],
                                name="ent_absence_establi_7e0b0b_idx",
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("student", "date", "start"), name="absence_one_per_lesson"
                            )
                        ],
                    },
                ),
            ]
        ),
    ]

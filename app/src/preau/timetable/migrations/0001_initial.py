"""The models of this service were created by preau.ent's 0001 and keep their tables
(Meta.db_table): this migration takes them into this app's state only; ent's 0002 drops
them from its state and moves their content types (app README, "One app per service")."""

import django.db.models.deletion
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
                    name="TimetableSlot",
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
                        (
                            "weekday",
                            models.PositiveSmallIntegerField(
                                choices=[
                                    (1, "Lundi"),
                                    (2, "Mardi"),
                                    (3, "Mercredi"),
                                    (4, "Jeudi"),
                                    (5, "Vendredi"),
                                    (6, "Samedi"),
                                ]
                            ),
                        ),
                        ("start", models.TimeField()),
                        ("end", models.TimeField()),
                        ("room", models.CharField(blank=True, max_length=40)),
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
                            "teacher",
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
                        "db_table": "ent_timetableslot",
                        "ordering": ["weekday", "start"],
                        "indexes": [
                            models.Index(
                                fields=["establishment", "class_group", "weekday"],
                                name="ent_timetab_establi_485ed4_idx",
                            ),
                            models.Index(
                                fields=["teacher", "weekday"], name="ent_timetab_teacher_ed3b8d_idx"
                            ),
                        ],
                    },
                ),
            ]
        ),
    ]

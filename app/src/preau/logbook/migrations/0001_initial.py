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
                    name="LogbookEntry",
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
                        ("title", models.CharField(max_length=200)),
                        ("content", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
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
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_logbookentry",
                        "ordering": ["-date", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="Homework",
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
                        ("assigned_on", models.DateField()),
                        ("due_on", models.DateField()),
                        ("description", models.TextField()),
                        (
                            "hand_in",
                            models.BooleanField(default=False, help_text="Students hand in a file"),
                        ),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
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
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "entry",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="homework",
                                to="logbook.logbookentry",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "ent_homework",
                        "ordering": ["due_on", "pk"],
                    },
                ),
                migrations.CreateModel(
                    name="Submission",
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
                        ("comment", models.CharField(blank=True, max_length=300)),
                        ("submitted_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "file",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="ent.storedfile",
                            ),
                        ),
                        (
                            "homework",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="submissions",
                                to="logbook.homework",
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
                    ],
                    options={
                        "db_table": "ent_submission",
                    },
                ),
                migrations.AddIndex(
                    model_name="logbookentry",
                    index=models.Index(
                        fields=["establishment", "class_group", "date"],
                        name="ent_logbook_establi_bf599b_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="homework",
                    index=models.Index(
                        fields=["establishment", "class_group", "due_on"],
                        name="ent_homewor_establi_d9ab20_idx",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="submission",
                    constraint=models.UniqueConstraint(
                        fields=("homework", "student"), name="submission_unique"
                    ),
                ),
            ]
        ),
    ]

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
                    name="Assessment",
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
                        ("title", models.CharField(max_length=200)),
                        ("date", models.DateField()),
                        (
                            "coefficient",
                            models.DecimalField(decimal_places=2, default=1, max_digits=4),
                        ),
                        ("scale", models.PositiveSmallIntegerField(default=20)),
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
                        "db_table": "ent_assessment",
                        "ordering": ["-date", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="Grade",
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
                            "value",
                            models.DecimalField(
                                blank=True, decimal_places=2, max_digits=5, null=True
                            ),
                        ),
                        ("absent", models.BooleanField(default=False)),
                        ("comment", models.CharField(blank=True, max_length=200)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "assessment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="grades",
                                to="grades.assessment",
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
                        "db_table": "ent_grade",
                    },
                ),
                migrations.AddIndex(
                    model_name="assessment",
                    index=models.Index(
                        fields=["establishment", "class_group", "date"],
                        name="ent_assessm_establi_39c28c_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="assessment",
                    index=models.Index(
                        fields=["teacher", "date"], name="ent_assessm_teacher_e9efa3_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="grade",
                    index=models.Index(
                        fields=["student", "updated_at"], name="ent_grade_student_1a38e4_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="grade",
                    constraint=models.UniqueConstraint(
                        fields=("assessment", "student"), name="grade_unique"
                    ),
                ),
            ]
        ),
    ]

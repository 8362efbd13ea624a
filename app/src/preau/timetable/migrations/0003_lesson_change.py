"""LessonChange (expand: a new table): a lesson cancelled, or given in another room, on one date
(issue #18 item 1)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_loginattempt_prefix"),
        ("timetable", "0002_slot_week_parity"),
    ]

    operations = [
        migrations.CreateModel(
            name="LessonChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("date", models.DateField()),
                ("cancelled", models.BooleanField(default=False)),
                ("room", models.CharField(blank=True, max_length=40)),
                (
                    "establishment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="core.establishment",
                    ),
                ),
                (
                    "slot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="timetable.timetableslot",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["establishment", "date"], name="timetable_l_establi_b5cb13_idx"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("slot", "date"), name="timetable_change_once_a_day"
                    )
                ],
            },
        ),
    ]

"""TimetableSlot.week_parity (expand): a lesson given every week ("") or only in the weeks A or B
(issue #18 item 1). A database default keeps the previous release's inserts working."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("timetable", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="timetableslot",
            name="week_parity",
            field=models.CharField(
                blank=True,
                choices=[("", "Toutes les semaines"), ("A", "Semaine A"), ("B", "Semaine B")],
                db_default="",
                default="",
                max_length=1,
            ),
        ),
    ]

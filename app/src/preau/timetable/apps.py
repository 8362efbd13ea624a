from django.apps import AppConfig


class TimetableConfig(AppConfig):
    """The weekly timetable of each class, teacher and student; entered or imported as CSV."""

    name = "preau.timetable"
    label = "timetable"
    verbose_name = "Emploi du temps"
    default_auto_field = "django.db.models.BigAutoField"

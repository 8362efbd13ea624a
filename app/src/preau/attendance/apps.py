from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    """Absences and lateness: roll call, justification by parents, validation, counters."""

    name = "preau.attendance"
    label = "attendance"
    verbose_name = "Vie scolaire"
    default_auto_field = "django.db.models.BigAutoField"

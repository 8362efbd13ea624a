from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    """Absences and lateness: roll call, justification by parents, validation, counters."""

    name = "preau.attendance"
    label = "attendance"
    verbose_name = "Vie scolaire"
    default_auto_field = "django.db.models.BigAutoField"

    def periodic(self, now=None, dry_run: bool = False) -> dict:
        """Run by the job queue's deliver_notifications job (preau.jobs.tasks), before it delivers."""
        from preau.attendance.reminders import remind_missing_roll_calls

        return {"roll_call_reminders": remind_missing_roll_calls(now, dry_run=dry_run)}

from django.apps import AppConfig


class GradesConfig(AppConfig):
    """Assessments, the entry grid, reports with averages, class statistics."""

    name = "preau.grades"
    label = "grades"
    verbose_name = "Notes"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class LogbookConfig(AppConfig):
    """Lessons and homework per class and subject, the week's homework, hand-ins."""

    name = "preau.logbook"
    label = "logbook"
    verbose_name = "Cahier de textes"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The platform operators' (ADMC) console and the usage statistics it shows: the visits a
    middleware records (preau.console.usage) and the aggregates a job makes of them
    (preau.console.stats)."""

    name = "preau.console"
    label = "console"
    verbose_name = "Console de la plateforme"
    default_auto_field = "django.db.models.BigAutoField"

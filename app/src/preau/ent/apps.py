from django.apps import AppConfig


class EntConfig(AppConfig):
    """The ENT's daily services: vie scolaire, grades, logbook, timetable, documents, messaging,
    news, shared spaces, resource links, notifications and the dashboard."""

    name = "preau.ent"
    label = "ent"
    verbose_name = "Services de l'ENT"
    default_auto_field = "django.db.models.BigAutoField"

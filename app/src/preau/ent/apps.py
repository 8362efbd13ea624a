from django.apps import AppConfig


class EntConfig(AppConfig):
    """The ENT's daily services: vie scolaire, grades, logbook, timetable, documents, messaging,
    news, shared spaces, resource links, notifications and the dashboard."""

    name = "preau.ent"
    label = "ent"
    verbose_name = "Services de l'ENT"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from preau.core.tenancy import MEMBERSHIP_ANNOTATIONS
        from preau.ent.context import unread_notifications

        MEMBERSHIP_ANNOTATIONS["unread_notifications"] = unread_notifications

from django.apps import AppConfig

# The apps of the ENT's daily services, in the order their data is folded by a merge
# (preau.core.merge): what they share first (`ent`), then one app per service.
SERVICE_APPS = (
    "ent",
    "timetable",
    "attendance",
    "grades",
    "logbook",
    "documents",
    "messaging",
    "news",
    "spaces",
)


class EntConfig(AppConfig):
    """What the services share: the tenant row base, stored files (download, quotas, antivirus),
    notifications, access rules, the per-user cache, navigation and the dashboard. Each service
    (vie scolaire, notes, ...) is its own app: SERVICE_APPS."""

    name = "preau.ent"
    label = "ent"
    verbose_name = "Services de l'ENT"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from preau.core.tenancy import MEMBERSHIP_ANNOTATIONS
        from preau.ent.context import unread_notifications

        MEMBERSHIP_ANNOTATIONS["unread_notifications"] = unread_notifications

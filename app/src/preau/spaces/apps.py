from django.apps import AppConfig


class SpacesConfig(AppConfig):
    """The shared space of each class and group: threads, replies, files."""

    name = "preau.spaces"
    label = "spaces"
    verbose_name = "Espaces"
    default_auto_field = "django.db.models.BigAutoField"

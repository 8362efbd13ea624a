from django.apps import AppConfig


class NewsConfig(AppConfig):
    """The establishment's news and its catalogue of resource links."""

    name = "preau.news"
    label = "news"
    verbose_name = "Actualités"
    default_auto_field = "django.db.models.BigAutoField"

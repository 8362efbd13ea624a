from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    """Course material per class and subject."""

    name = "preau.documents"
    label = "documents"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"

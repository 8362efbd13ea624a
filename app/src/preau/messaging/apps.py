from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Conversations with attachments, under the communication rules."""

    name = "preau.messaging"
    label = "messaging"
    verbose_name = "Messagerie"
    default_auto_field = "django.db.models.BigAutoField"

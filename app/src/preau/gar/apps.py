from django.apps import AppConfig


class GarConfig(AppConfig):
    name = "preau.gar"
    label = "gar"
    verbose_name = "GAR (médiacentre)"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "preau.federation"
    label = "federation"
    verbose_name = "Fédération d'identités"

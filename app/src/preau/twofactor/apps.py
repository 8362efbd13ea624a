from django.apps import AppConfig


class TwoFactorConfig(AppConfig):
    name = "preau.twofactor"
    label = "twofactor"
    verbose_name = "Double authentification"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from preau.twofactor.policy import remember_requirement

        user_logged_in.connect(remember_requirement, dispatch_uid="preau.twofactor.login")

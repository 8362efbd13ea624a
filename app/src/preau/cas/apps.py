from django.apps import AppConfig


class CasConfig(AppConfig):
    name = "preau.cas"
    label = "cas"
    verbose_name = "Serveur CAS"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from preau.cas.protocol import remember_login

        user_logged_in.connect(remember_login, dispatch_uid="preau.cas.login")

"""The partner services allowed to authenticate users through Préau (CAS 3.0) and their tickets."""

from django.db import models

from preau.core.models import Establishment, User

# What a service may be told about the person, chosen per service (docs/federation.md, "CAS").
ATTRIBUTES = {
    "identifier": "identifiant de l'annuaire (ENTPersonJointure)",
    "profile": "profil dans l'établissement (ELV, TUT, ENS, DIR, EVS, ETA)",
    "uai": "UAI de l'établissement",
    "classes": "classes de l'année (élève : la sienne ; enseignant : celles qu'il a)",
}


class CasService(models.Model):
    """A partner service an establishment opened to its members: every service URL that
    starts with `url_prefix` (https only) is this service."""

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="cas_services"
    )
    name = models.CharField(max_length=200)
    url_prefix = models.CharField(max_length=500)
    attributes = models.JSONField(default=list)  # keys of ATTRIBUTES
    proxy_allowed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["establishment_id", "url_prefix"]
        constraints = [
            models.UniqueConstraint(
                fields=["establishment", "url_prefix"], name="casservice_unique_prefix"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.url_prefix})"


class ServiceTicket(models.Model):
    """A service ticket (ST-…): random, valid for a minute, deleted when validated."""

    ticket = models.CharField(max_length=100, unique=True)
    service = models.ForeignKey(CasService, on_delete=models.CASCADE)
    service_url = models.TextField()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    from_new_login = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

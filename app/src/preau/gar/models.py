"""The GAR (gestionnaire d'accès aux ressources, the ministry's resource access manager): the
resources each establishment shows in its médiacentre, and each person's identifier at the GAR."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from preau.ent.models import TenantModel


class GarResource(TenantModel):
    """A resource of the establishment's médiacentre: its title, the resource's own address
    (the GAR's link: opening it makes the GAR ask Préau, its identity provider, who the person
    is), a description, and the profiles it is shown to (empty: every profile)."""

    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=300, blank=True)
    profiles = ArrayField(models.CharField(max_length=3), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["establishment_id", "title"]
        constraints = [
            models.UniqueConstraint(fields=["establishment", "url"], name="garresource_unique_url")
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.url})"


class GarIdentifier(models.Model):
    """A person's identifier at the GAR (GARPersonIdentifiant): an HMAC of the account's id with
    the platform's secret key, computed at the first need and kept, so that it stays the same
    when the secret key is rotated, and never tells the database id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gar_identifier"
    )
    value = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

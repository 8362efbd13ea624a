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


class GarExport(TenantModel):
    """One directory export of the establishment (preau.gar.export.make): asked from the
    médiacentre page or made by the nightly job, its files in a directory of its own under
    `[federation] gar_export_dir`, then sent to the GAR's SFTP drop when one is configured
    (preau.gar.transfer). The médiacentre page shows the last one's date and state; the last
    `gar_export_keep` of each establishment are kept, older ones go with their files."""

    class Status(models.TextChoices):
        PENDING = "pending", "en préparation"
        MADE = "made", "prêt"
        FAILED = "failed", "échoué"

    class Transfer(models.TextChoices):
        OFF = "", "non envoyé (pas de dépôt SFTP configuré)"
        PENDING = "pending", "envoi en attente"
        SENT = "sent", "envoyé au GAR"
        FAILED = "failed", "envoi en échec"

    created_at = models.DateTimeField(auto_now_add=True)
    nightly = models.BooleanField(default=False)
    job_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    made_at = models.DateTimeField(null=True, blank=True)
    directory = models.CharField(max_length=500, blank=True)
    files = models.JSONField(default=list, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    transfer = models.CharField(
        max_length=10, choices=Transfer.choices, default=Transfer.OFF, blank=True
    )
    transfer_error = models.TextField(blank=True)
    transfer_attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["establishment_id", "-created_at", "-id"]

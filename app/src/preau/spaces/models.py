"""Espaces: the shared space of each class and group (threads, replies, files).
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup
from preau.ent.models import StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class SpacePost(TenantModel):
    """A thread (thread=None) or a reply in the shared space of a class or group."""

    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    file = models.ForeignKey(
        StoredFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_spacepost"
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "last_activity_at"])]

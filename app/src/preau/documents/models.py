"""Documents: course material per class and subject.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject
from preau.ent.models import StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class Document(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_document"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["establishment", "class_group", "created_at"])]

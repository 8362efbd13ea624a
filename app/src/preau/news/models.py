"""Actualités: the establishment's news and its catalogue of resource links.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from preau.ent.models import TenantModel

User = settings.AUTH_USER_MODEL


class NewsItem(TenantModel):
    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    audience = models.JSONField(default=list, blank=True, help_text="Profiles; empty = everyone")
    # The classes it is for (ids of core.ClassGroup): their pupils, those pupils' guardians and
    # the classes' teachers; empty = every class. Both audiences apply (news.views.for_reader).
    # Expand migration news.0002: the database's default fills the previous release's INSERTs.
    class_ids = ArrayField(
        models.IntegerField(), default=list, db_default=[], blank=True, help_text="Empty = all"
    )
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_newsitem"
        ordering = ["-published_at"]
        indexes = [models.Index(fields=["establishment", "published_at"])]


class ResourceLink(TenantModel):
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=300, blank=True)
    audience = models.JSONField(default=list, blank=True, help_text="Profiles; empty = everyone")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_resourcelink"
        ordering = ["title"]

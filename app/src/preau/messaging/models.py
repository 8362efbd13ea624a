"""Messagerie: conversations, their participants and messages.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import TenantQuerySet
from preau.ent.models import StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class Conversation(TenantModel):
    subject = models.CharField(max_length=200)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_conversation"
        ordering = ["-last_message_at"]


class ParticipantQuerySet(TenantQuerySet):
    """Participant rows scoped through their conversation's establishment."""

    tenant_field = "conversation__establishment"


class Participant(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    last_read_at = models.DateTimeField(null=True, blank=True)
    # Deleted for oneself: out of this participant's inbox until a newer message comes.
    hidden_at = models.DateTimeField(null=True, blank=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        db_table = "ent_participant"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique")
        ]
        indexes = [models.Index(fields=["user", "conversation"])]


class MessageQuerySet(TenantQuerySet):
    """Message rows scoped through their conversation's establishment."""

    tenant_field = "conversation__establishment"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now)
    attachment = models.ForeignKey(
        StoredFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        db_table = "ent_message"
        ordering = ["sent_at", "pk"]
        indexes = [models.Index(fields=["conversation", "sent_at"])]

"""Messagerie: conversations, their participants and messages; group messages (`Broadcast`,
one conversation per recipient: messaging/groups.py says why) and reported messages (`Report`).
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README); the newer
ones are named by Django."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import TenantQuerySet
from preau.ent.models import StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class Broadcast(TenantModel):
    """A message to groups (« les parents de la 5A »…): what the sender wrote once, the groups
    and people chosen (`targets`, resolved when it is delivered), and how many it reached.
    Each recipient gets a conversation of their own with the sender (`Conversation.broadcast`);
    `delivered_at` is empty while the job delivers it (« envoi en cours »)."""

    sender = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    attachment = models.ForeignKey(
        StoredFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    label = models.CharField(max_length=500)
    targets = models.JSONField(default=dict)
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(default=timezone.now)
    # The job delivering it (above groups.LARGE recipients), whose state the page shows.
    job_id = models.BigIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [models.Index(fields=["establishment", "sender", "sent_at"])]


class Conversation(TenantModel):
    subject = models.CharField(max_length=200)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    # The group message this conversation delivers to one of its recipients (None: a plain one).
    # Indexed concurrently by migration 0004 (an existing table).
    broadcast = models.ForeignKey(
        Broadcast,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        db_index=False,
    )

    class Meta:
        db_table = "ent_conversation"
        ordering = ["-last_message_at"]
        indexes = [models.Index(fields=["broadcast"], name="conversation_broadcast")]


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
    # Hidden by the vie scolaire after a report: kept for the record, shown as masked.
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = MessageQuerySet.as_manager()

    class Meta:
        db_table = "ent_message"
        ordering = ["sent_at", "pk"]
        indexes = [models.Index(fields=["conversation", "sent_at"])]


class Report(TenantModel):
    """A message reported by one of its recipients (« Signaler »), until the vie scolaire or
    the direction hides the message or dismisses the report (`outcome`)."""

    class Outcome(models.TextChoices):
        HIDDEN = "hidden", "Message masqué"
        DISMISSED = "dismissed", "Signalement classé"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField()
    reported_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["reported_at", "pk"]
        indexes = [models.Index(fields=["establishment", "resolved_at"])]

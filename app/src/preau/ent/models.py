"""Data of the ENT's daily services. Every row belongs to one establishment (directly, or
through its parent row) and is read through `Model.objects.for_request(request)`."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Establishment, Subject, TenantQuerySet

User = settings.AUTH_USER_MODEL


class TenantModel(models.Model):
    establishment = models.ForeignKey(Establishment, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


def _child_queryset(field: str):
    """Manager of a row scoped through its parent (e.g. a grade through its assessment)."""
    return type(f"TenantVia{field.title()}", (TenantQuerySet,),
                {"tenant_field": f"{field}__establishment"}).as_manager()


# --- files (stored in PostgreSQL: every app server sees them, pgBackRest backs them up) -------

class StoredFile(TenantModel):
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    chunks_count = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class FileChunk(models.Model):
    """Contents in chunks, so that downloads stream without loading a whole file in memory."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    objects = _child_queryset("file")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="filechunk_unique")]


# --- timetable ---------------------------------------------------------------------------------

class Weekday(models.IntegerChoices):
    MONDAY = 1, "Lundi"
    TUESDAY = 2, "Mardi"
    WEDNESDAY = 3, "Mercredi"
    THURSDAY = 4, "Jeudi"
    FRIDAY = 5, "Vendredi"
    SATURDAY = 6, "Samedi"


class TimetableSlot(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teacher = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()
    room = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["weekday", "start"]
        indexes = [models.Index(fields=["establishment", "class_group", "weekday"]),
                   models.Index(fields=["teacher", "weekday"])]


# --- vie scolaire ------------------------------------------------------------------------------

class Absence(TenantModel):
    class Kind(models.TextChoices):
        ABSENCE = "absence", "Absence"
        LATE = "late", "Retard"

    class Status(models.TextChoices):
        UNJUSTIFIED = "unjustified", "À justifier"
        SUBMITTED = "submitted", "Justificatif envoyé"
        ACCEPTED = "accepted", "Justifiée"
        REFUSED = "refused", "Justification refusée"

    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    class_group = models.ForeignKey(ClassGroup, null=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recorded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    date = models.DateField()
    start = models.TimeField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ABSENCE)
    minutes_late = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNJUSTIFIED)
    reason = models.TextField(blank=True)
    justified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    justified_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    validated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-start"]
        indexes = [models.Index(fields=["establishment", "student", "date"]),
                   models.Index(fields=["establishment", "status", "date"])]
        constraints = [models.UniqueConstraint(fields=["student", "date", "start"],
                                               name="absence_one_per_lesson")]

    @property
    def needs_justification(self) -> bool:
        return self.status in (self.Status.UNJUSTIFIED, self.Status.REFUSED)


# --- grades ------------------------------------------------------------------------------------

class Assessment(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    date = models.DateField()
    coefficient = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    scale = models.PositiveSmallIntegerField(default=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "date"]),
                   models.Index(fields=["teacher", "date"])]

    def __str__(self) -> str:
        return self.title


class Grade(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    absent = models.BooleanField(default=False)
    comment = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = _child_queryset("assessment")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assessment", "student"], name="grade_unique")]
        indexes = [models.Index(fields=["student", "updated_at"])]

    @property
    def on_twenty(self):
        if self.value is None:
            return None
        return float(self.value) * 20 / self.assessment.scale


# --- cahier de textes --------------------------------------------------------------------------

class LogbookEntry(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    date = models.DateField()
    title = models.CharField(max_length=200)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "date"])]


class Homework(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    entry = models.ForeignKey(LogbookEntry, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="homework")
    assigned_on = models.DateField()
    due_on = models.DateField()
    description = models.TextField()
    hand_in = models.BooleanField(default=False, help_text="Students hand in a file")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "due_on"])]


class Submission(models.Model):
    homework = models.ForeignKey(Homework, on_delete=models.CASCADE, related_name="submissions")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")
    comment = models.CharField(max_length=300, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    objects = _child_queryset("homework")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["homework", "student"], name="submission_unique")]


# --- documents ---------------------------------------------------------------------------------

class Document(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["establishment", "class_group", "created_at"])]


# --- messaging ---------------------------------------------------------------------------------

class Conversation(TenantModel):
    subject = models.CharField(max_length=200)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_message_at"]


class Participant(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    last_read_at = models.DateTimeField(null=True, blank=True)

    objects = _child_queryset("conversation")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="participant_unique")]
        indexes = [models.Index(fields=["user", "conversation"])]


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now)
    attachment = models.ForeignKey(StoredFile, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    objects = _child_queryset("conversation")

    class Meta:
        ordering = ["sent_at", "pk"]
        indexes = [models.Index(fields=["conversation", "sent_at"])]


# --- news, shared spaces, resource links ------------------------------------------------------

class NewsItem(TenantModel):
    title = models.CharField(max_length=200)
    body = models.TextField()
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    audience = models.JSONField(default=list, blank=True, help_text="Profiles; empty = everyone")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]
        indexes = [models.Index(fields=["establishment", "published_at"])]


class SpacePost(TenantModel):
    """A thread (thread=None) or a reply in the shared space of a class or group."""

    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    file = models.ForeignKey(StoredFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "last_activity_at"])]


class ResourceLink(TenantModel):
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=300, blank=True)
    audience = models.JSONField(default=list, blank=True, help_text="Profiles; empty = everyone")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]


# --- notifications -----------------------------------------------------------------------------

class Notification(TenantModel):
    """In-app notification. `delivered_at` stays empty during quiet hours; deliver_notifications
    (a timer) delivers it at `deliver_after`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deliver_after = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "establishment", "read_at"]),
                   models.Index(fields=["deliver_after"], name="notification_held",
                                condition=models.Q(delivered_at__isnull=True))]

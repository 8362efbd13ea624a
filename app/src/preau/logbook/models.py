"""Cahier de textes: lessons, homework and the files handed in.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject, TenantQuerySet
from preau.ent.models import StoredFile, TenantModel

User = settings.AUTH_USER_MODEL


class LogbookEntry(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    date = models.DateField()
    title = models.CharField(max_length=200)
    content = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_logbookentry"
        ordering = ["-date", "-pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "date"])]


class Homework(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    entry = models.ForeignKey(
        LogbookEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="homework"
    )
    assigned_on = models.DateField()
    due_on = models.DateField()
    description = models.TextField()
    hand_in = models.BooleanField(default=False, help_text="Students hand in a file")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_homework"
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["establishment", "class_group", "due_on"])]


class SubmissionQuerySet(TenantQuerySet):
    """Submission rows scoped through their homework's establishment."""

    tenant_field = "homework__establishment"


class Submission(models.Model):
    homework = models.ForeignKey(Homework, on_delete=models.CASCADE, related_name="submissions")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")
    comment = models.CharField(max_length=300, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        db_table = "ent_submission"
        constraints = [
            models.UniqueConstraint(fields=["homework", "student"], name="submission_unique")
        ]

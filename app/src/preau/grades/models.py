"""Notes: assessments (coefficient, scale) and their grades.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject, TenantQuerySet
from preau.ent.models import TenantModel

User = settings.AUTH_USER_MODEL


class Assessment(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    teacher = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    date = models.DateField()
    coefficient = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    scale = models.PositiveSmallIntegerField(default=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ent_assessment"
        ordering = ["-date", "-pk"]
        indexes = [
            models.Index(fields=["establishment", "class_group", "date"]),
            models.Index(fields=["teacher", "date"]),
        ]

    def __str__(self) -> str:
        return self.title


class GradeQuerySet(TenantQuerySet):
    """Grade rows scoped through their assessment's establishment."""

    tenant_field = "assessment__establishment"


class Grade(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    absent = models.BooleanField(default=False)
    comment = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = GradeQuerySet.as_manager()

    class Meta:
        db_table = "ent_grade"
        constraints = [
            models.UniqueConstraint(fields=["assessment", "student"], name="grade_unique")
        ]
        indexes = [models.Index(fields=["student", "updated_at"])]

    @property
    def on_twenty(self):
        if self.value is None:
            return None
        return float(self.value) * 20 / self.assessment.scale


class GradeChange(models.Model):
    """One change of a grade already entered (value, 'abs' or '' when it was removed): who
    made it, when, before and after, shown with the assessment. Never edited nor deleted."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="+")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    before = models.CharField(max_length=12, blank=True)
    after = models.CharField(max_length=12, blank=True)
    changed_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)

    objects = GradeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["assessment", "changed_at"])]

"""Emploi du temps: the weekly lessons of each class and group.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from preau.core.models import ClassGroup, Subject
from preau.ent.models import TenantModel

User = settings.AUTH_USER_MODEL


class Weekday(models.IntegerChoices):
    MONDAY = 1, "Lundi"
    TUESDAY = 2, "Mardi"
    WEDNESDAY = 3, "Mercredi"
    THURSDAY = 4, "Jeudi"
    FRIDAY = 5, "Vendredi"
    SATURDAY = 6, "Samedi"


class TimetableSlot(TenantModel):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    teacher = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()
    room = models.CharField(max_length=40, blank=True)

    class Meta:
        db_table = "ent_timetableslot"
        ordering = ["weekday", "start"]
        indexes = [
            models.Index(fields=["establishment", "class_group", "weekday"]),
            models.Index(fields=["teacher", "weekday"]),
        ]

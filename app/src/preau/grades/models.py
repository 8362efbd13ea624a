"""Notes: assessments (coefficient, scale) and their grades, the establishment's periods
(trimesters or semesters) and the appreciations per period.
Tables keep their `ent_` names: the models moved out of `preau.ent` (app README)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import ClassGroup, Subject, TenantQuerySet
from preau.ent.models import JobBatch, StoredFile, TenantModel

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


class NonMark(models.TextChoices):
    """Pronote's non-marks: what stands in a grade's place; none counts in an average."""

    ABS = "abs", "Abs"
    DISP = "disp", "Disp"
    NRDU = "nrdu", "NRdu"
    INAP = "inap", "Inap"
    NNOT = "nnot", "NNot"


class GradeQuerySet(TenantQuerySet):
    """Grade rows scoped through their assessment's establishment."""

    tenant_field = "assessment__establishment"


class Grade(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # Expand (grades.0003): `status` replaces `absent`, which stays written (absent = status
    # "abs") and read for the previous release; `absent` goes in a later contract migration.
    absent = models.BooleanField(default=False)
    status = models.CharField(
        max_length=4, choices=NonMark.choices, blank=True, default="", db_default=""
    )
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
    def non_mark(self) -> str:
        """The non-mark in force ("" for a mark or nothing). A row the previous release wrote
        has `absent` only; one it changed keeps a stale `status`, so a value or `absent` wins."""
        if self.value is not None:
            return ""
        return NonMark.ABS if self.absent else self.status

    @property
    def shown(self) -> str:
        """What a page shows in the grade's place: "Abs", "Disp", … or "" (see the value)."""
        return NonMark(self.non_mark).label if self.non_mark else ""


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


class Period(TenantModel):
    """A trimester or a semester of the establishment's school year. An assessment belongs to
    the period containing its date. Appreciations reach pupils and parents once published."""

    school_year = models.PositiveIntegerField()
    name = models.CharField(max_length=50)
    start = models.DateField()
    end = models.DateField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["school_year", "start"]
        indexes = [models.Index(fields=["establishment", "school_year", "start"])]

    def __str__(self) -> str:
        return self.name


class AppreciationQuerySet(TenantQuerySet):
    tenant_field = "period__establishment"


APPRECIATION_MAX_CHARS = 500


class Appreciation(models.Model):
    """A pupil's appreciation for a period: the teacher's in one subject, or (subject None) the
    class council's general appreciation. Plain text."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(Subject, null=True, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=APPRECIATION_MAX_CHARS)
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = AppreciationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "student", "subject"],
                name="appreciation_unique",
                nulls_distinct=False,
            )
        ]


class SocleComponent(models.TextChoices):
    """The eight components of the socle commun, as the LSU (livret scolaire unique) codes and
    names them (the four of domain 1, then domains 2 to 5)."""

    CPD_FRA = (
        "CPD_FRA",
        "Comprendre, s'exprimer en utilisant la langue française à l'oral et à l'écrit",
    )
    CPD_ETR = (
        "CPD_ETR",
        "Comprendre, s'exprimer en utilisant une langue étrangère et, le cas échéant, une "
        "langue régionale",
    )
    CPD_SCI = (
        "CPD_SCI",
        "Comprendre, s'exprimer en utilisant les langages mathématiques, scientifiques et "
        "informatiques",
    )
    CPD_ART = "CPD_ART", "Comprendre, s'exprimer en utilisant les langages des arts et du corps"
    MET_APP = "MET_APP", "Les méthodes et outils pour apprendre"
    FRM_CIT = "FRM_CIT", "La formation de la personne et du citoyen"
    SYS_NAT = "SYS_NAT", "Les systèmes naturels et les systèmes techniques"
    REP_MND = "REP_MND", "Les représentations du monde et l'activité humaine"


class Mastery(models.IntegerChoices):
    """The LSU's four levels of mastery of a component (not assessed: no SocleLevel row)."""

    INSUFFICIENT = 1, "Maîtrise insuffisante"
    FRAGILE = 2, "Maîtrise fragile"
    SATISFACTORY = 3, "Maîtrise satisfaisante"
    VERY_GOOD = 4, "Très bonne maîtrise"


class SocleLevel(TenantModel):
    """A pupil's level on one component of the socle commun for a period: the positioning the
    class council keeps, set by the class's teachers or the direction (preau.grades.socle);
    pupils and parents read it once the period is published, on the Relevé and the bulletin."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    component = models.CharField(max_length=7, choices=SocleComponent.choices)
    level = models.PositiveSmallIntegerField(choices=Mastery.choices)
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "student", "component"], name="soclelevel_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(level__gte=1, level__lte=4), name="soclelevel_level_1_to_4"
            ),
        ]


class BulletinBatch(JobBatch):
    """The report cards (bulletins) of a class for a period (preau.grades.bulletins): asked for
    by the direction or a local admin, made by a background job that stores the class's PDF
    (for printing, `file`) and one PDF per pupil (Bulletin), which the family downloads once
    the period is published."""

    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="+")
    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    # Set by the job: how many pupils the class's PDF holds (every pupil, in class order).
    pupils = models.PositiveIntegerField(default=0)

    class Meta(JobBatch.Meta):
        indexes = [models.Index(fields=["class_group", "period", "created_at"])]


class Bulletin(TenantModel):
    """One pupil's report card of a batch, stored as its own PDF: what the family downloads
    (the latest made batch of the period holding the pupil)."""

    batch = models.ForeignKey(BulletinBatch, on_delete=models.CASCADE, related_name="+")
    student = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["student", "batch"])]


class LsuExport(JobBatch):
    """The LSU export (livret scolaire unique) of a period: its bilans périodiques as the
    national import file (preau.grades.lsu), asked for by the direction or a local admin and
    made by a background job. Either the XML file (`file`) or, when the establishment's data
    lacks what the LSU requires, the French lines saying what (`problems`) and no file."""

    period = models.ForeignKey(Period, on_delete=models.CASCADE, related_name="+")
    # Set by the job: the pupils exported (0 when refused).
    pupils = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list)

    class Meta(JobBatch.Meta):
        indexes = [models.Index(fields=["period", "created_at"])]

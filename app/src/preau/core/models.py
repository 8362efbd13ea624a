"""Data model: establishments (tenants), accounts, memberships and the directory."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Self

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from preau.core.sessions import UserSession  # noqa: F401 (its model, owned there: registered here)
from preau.core.uai import uai_error


def validate_uai(value: str) -> None:
    message = uai_error(value)
    if message:
        raise ValidationError(message)


# Imports and merges take this PostgreSQL advisory lock (transaction-scoped): they create
# accounts with platform-unique usernames and move rows between establishments, so they run
# one at a time across all app servers.
DIRECTORY_LOCK_ID = 820_021


def lock_directory() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DIRECTORY_LOCK_ID])


def school_year_of(day: dt.date) -> int:
    """School year starting in September: 2026-27 is 2026."""
    return day.year if day.month >= 9 else day.year - 1


class Profile(models.TextChoices):
    ELV = "ELV", "Élève"
    TUT = "TUT", "Responsable"
    ENS = "ENS", "Enseignant"
    DIR = "DIR", "Direction"
    EVS = "EVS", "Vie scolaire"
    ETA = "ETA", "Personnel technique"


class Platform(models.Model):
    """Platform-wide state, a single row (id=1)."""

    maintenance = models.BooleanField(default=False)
    maintenance_message = models.TextField(blank=True)
    school_year = models.PositiveIntegerField(
        null=True, blank=True, help_text="Current school year; None = from the date"
    )

    @classmethod
    def get(cls) -> Platform:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @classmethod
    def current_school_year(cls) -> int:
        year = cls.objects.filter(pk=1).values_list("school_year", flat=True).first()
        return year or school_year_of(timezone.localdate())

    _cache: dict = {"at": None, "state": None}

    @classmethod
    def cached_state(cls) -> dict:
        """{maintenance, maintenance_message, school_year} for web requests, read at most every
        PREAU_PLATFORM_CACHE_SECONDS per process (commands read the row itself): one query
        less per page, and a maintenance switch still reaches every worker within seconds."""
        import time

        from django.conf import settings

        now = time.monotonic()
        ttl = settings.PREAU_PLATFORM_CACHE_SECONDS
        if cls._cache["at"] is None or now - cls._cache["at"] >= ttl:
            row = (
                cls.objects.filter(pk=1)
                .values("maintenance", "maintenance_message", "school_year")
                .first()
            )
            state = row or {"maintenance": False, "maintenance_message": "", "school_year": None}
            state["school_year"] = state["school_year"] or school_year_of(timezone.localdate())
            cls._cache.update(at=now, state=state)
        return cls._cache["state"]


class Establishment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Actif"
        ARCHIVED = "archived", "Archivé"
        MERGED = "merged", "Fusionné"
        # Closed for good (`establishment close`): exported for its archives, then purged
        # (preau.core.closure); `archived_at` is the closing date.
        CLOSED = "closed", "Fermé"

    uai = models.CharField(max_length=8, unique=True, validators=[validate_uai])
    join_key = models.CharField(
        max_length=64, blank=True, help_text="ENTStructureJointure from the AAF feed"
    )
    name = models.CharField(max_length=200)
    town = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="absorbed"
    )
    settings = models.JSONField(default=dict, blank=True)
    maintenance = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["uai"]

    def __str__(self) -> str:
        return f"{self.uai} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class EstablishmentAlias(models.Model):
    """A UAI absorbed by a merge; URLs and feeds using it resolve to `establishment`."""

    uai = models.CharField(max_length=8, unique=True, validators=[validate_uai])
    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="aliases"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class TenantQuerySet(models.QuerySet):
    """The one place that scopes directory data to an establishment.

    Views never filter by establishment themselves: they call
    `Model.objects.for_request(request)`, which relies on TenantMiddleware having checked that
    the user belongs to request.establishment.
    """

    tenant_field = "establishment"

    def of(self, establishment: Establishment) -> Self:
        return self.filter(**{self.tenant_field: establishment})

    def for_request(self, request) -> Self:
        establishment = getattr(request, "establishment", None)
        if establishment is None:
            raise RuntimeError("for_request() used outside an /e/<uai>/ URL")
        return self.of(establishment)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, username, password=None, **fields):
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(username, password, **fields)


def folded(expression) -> models.Func:
    """Text as the name search compares it: lower case, without accents (SQL `preau_fold`, an
    IMMUTABLE wrapper of PostgreSQL's unaccent, migration core.0007)."""
    return models.Func(expression, function="preau_fold", output_field=models.TextField())


def search_name(prefix: str = "") -> models.Func:
    """A person's "last first" name, folded (SQL `preau_search_name`): what the trigram index
    `core_user_name_trgm` holds (migration core.0007, SQL: Django's schema state does not hold
    an operator class on an expression), so that a search on it reads the index."""
    return models.Func(
        models.F(f"{prefix}last_name"),
        models.F(f"{prefix}first_name"),
        function="preau_search_name",
        output_field=models.TextField(),
    )


class User(AbstractBaseUser, PermissionsMixin):
    """An account. Platform admins (ADMC) are superusers; local admins are memberships."""

    username = models.CharField("identifiant", max_length=150, unique=True)
    first_name = models.CharField("prénom", max_length=150, blank=True)
    last_name = models.CharField("nom", max_length=150, blank=True)
    title = models.CharField(max_length=10, blank=True)
    email = models.EmailField(blank=True)
    # The address confirmed by a link sent to it (preau.core.account_emails), and when: the
    # account's address is confirmed while `email` is still that address (an import that
    # changes it leaves it unconfirmed). Expand migration core.0005 (nullable, db_default "").
    confirmed_email = models.EmailField(blank=True, default="", db_default="")
    email_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Opt-out: notifications are e-mailed (when the platform and the establishment send them)
    # unless the user chose "Seulement dans Préau" on "Mes préférences". The database default
    # keeps rows inserted by the previous release valid (expand migration core.0003).
    email_notifications = models.BooleanField(
        "notifications par e-mail", default=True, db_default=True
    )
    join_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        unique=True,
        help_text="ENTPersonJointure (directory identifier)",
    )
    ine = models.CharField(max_length=16, null=True, blank=True, db_index=True)
    birth_date = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    activation_code = models.CharField(max_length=128, blank=True)
    activation_expires = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # The account's first login through an IdP (ÉduConnect, the académie's agents IdP), recorded
    # by the SAML ACS (preau.federation.matching.record_login): such an account gets in without
    # an activation code, so activation letters leave it out while that IdP is enabled. An AAF
    # identifier alone proves nothing (a parent may never have created an ÉduConnect account).
    # Expand migration core.0013 (db_default "", nullable date).
    federated_idp = models.CharField(max_length=20, blank=True, default="", db_default="")
    federated_since = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def has_confirmed_email(self) -> bool:
        return bool(self.email) and self.confirmed_email.lower() == self.email.lower()

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser


class MembershipQuerySet(TenantQuerySet):
    def present(self):
        """In the establishment's directory (not gone), possibly disabled by a local admin."""
        return self.filter(gone_since__isnull=True)

    def current(self):
        """Present and not disabled: these memberships give access to the establishment."""
        return self.filter(gone_since__isnull=True, disabled=False)


class Membership(models.Model):
    """A user in an establishment, with the profile they have there."""

    class Source(models.TextChoices):
        AAF = "aaf", "AAF"
        CSV = "csv", "CSV"
        MANUAL = "manual", "Manuel"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="memberships"
    )
    profile = models.CharField(max_length=3, choices=Profile.choices)
    is_local_admin = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    gone_since = models.DateField(
        null=True, blank=True, help_text="Absent from the last complete feed since"
    )
    disabled = models.BooleanField(
        default=False, help_text="Disabled by a local admin; imports leave it alone"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A teacher's individual ID in the establishment's STS-Web files (preau.timetable.sts), kept
    # by the STS-Web structure import so that a timetable file naming teachers by that ID alone
    # finds them. Expand migration core.0011 (nullable).
    sts_id = models.CharField(max_length=20, null=True, blank=True)
    # A pupil's "identifiant Base Élèves" (SIECLE's ELEVE_ID, a positive integer), which the LSU
    # export names pupils by (preau.grades.lsu): kept by the import of SIECLE's pupils export
    # (preau.grades.siecle, matched by INE; the AAF gives the INE only); the export refuses each
    # pupil without it. Expand migration core.0012.
    be_id = models.CharField(max_length=20, null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "establishment"], name="membership_unique_user_establishment"
            )
        ]


class ClassGroup(models.Model):
    """A class (one per student and year) or a teaching group, for one school year."""

    class Kind(models.TextChoices):
        CLASS = "class", "Classe"
        GROUP = "group", "Groupe"

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="classes"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.CLASS)
    name = models.CharField(max_length=120)
    school_year = models.PositiveIntegerField()
    read_only = models.BooleanField(default=False)
    members: models.ManyToManyField[User, ClassMembership] = models.ManyToManyField(
        User, through="ClassMembership", related_name="class_groups"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["establishment", "kind", "name", "school_year"],
                name="classgroup_unique_name",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ClassMembershipQuerySet(TenantQuerySet):
    tenant_field = "class_group__establishment"


class ClassMembership(models.Model):
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE)

    objects = ClassMembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["class_group", "user"], name="classmembership_unique")
        ]

    def save(self, *args, **kwargs):
        # Past school years are history: read-only (bulk imports only touch the current year).
        if self.class_group.read_only:
            raise ValidationError(f"la classe {self.class_group} est en lecture seule")
        super().save(*args, **kwargs)


class Subject(models.Model):
    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="subjects"
    )
    code = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["establishment", "code"], name="subject_unique_code")
        ]


class TeachingAssignment(models.Model):
    """A teacher teaches (a subject in) a class or group."""

    establishment = models.ForeignKey(Establishment, on_delete=models.CASCADE)
    teacher = models.ForeignKey(User, on_delete=models.CASCADE, related_name="teachings")
    class_group = models.ForeignKey(ClassGroup, on_delete=models.CASCADE, related_name="teachings")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.CASCADE)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["teacher", "class_group", "subject"],
                name="teaching_unique",
                nulls_distinct=False,
            )
        ]


class ParentLink(models.Model):
    """Parent (or other contact) ↔ child, as given by the establishment's feed."""

    establishment = models.ForeignKey(Establishment, on_delete=models.CASCADE)
    parent = models.ForeignKey(User, on_delete=models.CASCADE, related_name="children_links")
    child = models.ForeignKey(User, on_delete=models.CASCADE, related_name="parent_links")
    legal_guardian = models.BooleanField(default=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["establishment", "parent", "child"], name="parentlink_unique"
            )
        ]


class OperationLog(models.Model):
    """History of imports, merges and other operations on an establishment (kept on merge)."""

    establishment = models.ForeignKey(
        Establishment, on_delete=models.CASCADE, related_name="operations"
    )
    kind = models.CharField(max_length=20)  # import_aaf, import_csv, merge, year_change...
    at = models.DateTimeField(default=timezone.now)
    summary = models.JSONField(default=dict)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        # The AAF deltas' state, read at each scrape of /metrics (core/delta.py state).
        indexes = [models.Index(fields=["kind", "at"], name="core_operationlog_kind_at")]


class LoginAttempt(models.Model):
    """Connection log (kept one year) and source of login throttling across workers
    (preau.core.throttle): a password or activation code checked, and how it went."""

    username = models.CharField(max_length=150, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # What the address throttle counts: the IPv4 address, or the IPv6 /64 ("2001:db8:1:2::/64").
    prefix = models.CharField(max_length=64, blank=True, db_default="", default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    success = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(fields=["ip", "at"]),
            models.Index(fields=["prefix", "at"], name="core_loginattempt_prefix_at"),
            models.Index(fields=["username", "at"], name="core_loginattempt_user_at"),
        ]

"""What every service shares: the base of tenant rows (every row belongs to one establishment,
directly or through its parent row, and is read through `Model.objects.for_request(request)`),
stored files and notifications. Each service's own data is in its app (preau.attendance, ...)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from preau.core.models import Establishment, TenantQuerySet

User = settings.AUTH_USER_MODEL


class TenantModel(models.Model):
    establishment = models.ForeignKey(Establishment, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


# --- files (stored in PostgreSQL: every app server sees them, pgBackRest backs them up) -------


# The phones' photos a school PC's browser does not show: the make_renditions job makes a JPEG
# of each (preau.ent.renditions), besides the preview every image gets.
JPEG_FOR = frozenset({"image/heic", "image/heif"})


class StoredFile(TenantModel):
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    chunks_count = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    # Images only (preau.ent.renditions, the make_renditions job): a JPEG a school PC opens for
    # a phone's HEIC/HEIF photo, and a small JPEG preview; files of the establishment made by
    # the platform, held by this one (purge_orphans drops them with it). `renditions` says
    # where that stands: "" nothing to make, "pending", "done", "failed" (unreadable image).
    # No index (expand migration): purge_orphans' NOT EXISTS is an anti-join.
    jpeg = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    preview = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    renditions = models.CharField(max_length=10, blank=True, db_default="")

    def __str__(self) -> str:
        return self.name

    @property
    def converted_to_jpeg(self) -> bool:
        """A phone's photo that is shown through its JPEG (JPEG_FOR)."""
        return self.content_type in JPEG_FOR


class FileChunkQuerySet(TenantQuerySet):
    """FileChunk rows scoped through their file's establishment."""

    tenant_field = "file__establishment"


class FileChunk(models.Model):
    """Contents in chunks, so that downloads stream without loading a whole file in memory."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    objects = FileChunkQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="filechunk_unique")]


# --- notifications -----------------------------------------------------------------------------


class Notification(TenantModel):
    """In-app notification. `delivered_at` stays empty during quiet hours; the delivery job
    (preau.jobs.tasks.deliver_notifications) delivers it at `deliver_after`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deliver_after = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When its e-mail was accepted by the mail server (preau.ent.notify): a job taken again
    # after its worker died skips it.
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # What the notification is about ("appel:<pupil>:<date>:<time>"), so that a correction
    # replaces it while it is still held (notify.cancel_held). Empty for the others.
    topic = models.CharField(max_length=80, blank=True, db_default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "establishment", "read_at"]),
            models.Index(
                fields=["deliver_after"],
                name="notification_held",
                condition=models.Q(delivered_at__isnull=True),
            ),
            models.Index(
                fields=["establishment", "topic"],
                name="notification_topic",
                condition=~models.Q(topic=""),
            ),
        ]


# --- activation letters ------------------------------------------------------------------------


# --- documents made by a background job (activation letters, bulletins) -----------------------


class JobBatch(TenantModel):
    """A document asked for on a page and made by a background job (preau.jobs): who asked,
    when, the job (its state shown by ent.views.common.job_page while `made_at` is empty), the
    private file it stored. LetterBatch and grades' BulletinBatch add what they are about."""

    # Who asked for it, as the audit log names them (a login).
    requested_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    job_id = models.BigIntegerField(null=True, blank=True)
    # Set by the job with `made_at`.
    file = models.ForeignKey(
        StoredFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    made_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]

    def defer(self, task: str) -> None:
        """Defer the job `task` (preau.jobs.tasks, called with batch_id) that makes this batch,
        in the caller's transaction, and keep its id."""
        from preau.jobs.queue import enqueue

        self.job_id = enqueue(task, establishment_uai=self.establishment.uai, batch_id=self.pk)
        self.save(update_fields=["job_id"])

    def job(self, uai: str) -> dict | None:
        """Its job's state (preau.jobs.queue.job_status) while the batch is not made; None once
        made, without a job, or when the job is not establishment `uai`'s."""
        if self.made_at is not None or not self.job_id:
            return None
        from preau.jobs.queue import job_status

        return job_status(self.job_id, uai)

    def in_preparation(self, uai: str) -> bool:
        """Not made and its job still to run or running (one whose job failed may be asked for
        again)."""
        job = self.job(uai)
        return job is not None and not job["finished"]


class LetterBatch(JobBatch):
    """A batch of activation letters (preau.ent.letters): the accounts chosen when it was asked
    for (a class or a profile, not yet activated, no federated login), their codes issued once by
    the background job that writes the PDF, kept as a private file of the establishment until
    the codes expire (then purge_gone drops it). Who asked for it may be "operator:<login>"
    (the CLI); the job's PDF is emptied by a regeneration and at expiry."""

    class_name = models.CharField(max_length=100, blank=True)
    profile = models.CharField(max_length=3, blank=True)
    # The accounts of the batch (ids), chosen once: the job and a regeneration write to them.
    user_ids = models.JSONField(default=list)
    # The site's address printed on the letters (the activation page and its QR code).
    site_url = models.CharField(max_length=200)
    expires_at = models.DateTimeField(null=True, blank=True)
    letters = models.PositiveIntegerField(default=0)
    # The selection's accounts left out because they have logged in through an IdP
    # (preau.ent.letters.left_out), for the batch's page. Expand migration ent.0007.
    federated_left_out = models.PositiveIntegerField(default=0, db_default=0)

    class Meta(JobBatch.Meta):
        pass

    def __str__(self) -> str:
        return self.selection

    @property
    def selection(self) -> str:
        from preau.core.models import Profile

        if self.class_name:
            parents = "parents de la " if self.profile == Profile.TUT else ""
            return f"{parents}classe {self.class_name}"
        return f"profil {Profile(self.profile).label.lower()}" if self.profile else "?"

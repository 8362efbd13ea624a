"""Every background job of Préau (app/README.md, "Background jobs"). A job's function is short:
the work lives in the room it belongs to (notifications in preau.ent.notify, retention in the
purge_gone command); here are only when it runs, on which queue, and how often it is retried.

Periodic jobs carry a `lock`: two runs of the same job never overlap (a slow run and the next
slot's, or a stalled run taken again), and a `queueing_lock`: at most one waits in the queue.
"""

from __future__ import annotations

import io
import json

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management import call_command
from procrastinate import JobContext, RetryStrategy, exceptions
from procrastinate.contrib.django import app

from preau.jobs.queue import stalled_after

# The mail server unreachable for a while (a restart): retried 1, 3, 5, 7 and 9 minutes after
# each failure (25 minutes in all), then the job is failed (jobs status counts it).
EMAIL_RETRY = RetryStrategy(max_attempts=5, wait=60, linear_wait=120)
# The GAR's SFTP drop unreachable (its maintenance, a network cut): tried again 5, 15, 25, 35
# and 45 minutes after each failure (about two hours in all, long before the next night's
# export), then the job is failed (jobs status counts it) and the export says why.
GAR_TRANSFER_RETRY = RetryStrategy(max_attempts=5, wait=300, linear_wait=600)
# Finished jobs kept this long (a page may still show an import's outcome), then removed.
KEEP_FINISHED_HOURS = 7 * 24
# The jobs that draw PDFs or write exports: run by the worker in a process of their own with a
# memory limit, `[jobs] heavy_memory_mb`, and a deadline, `[jobs] heavy_timeout_seconds`
# (preau.jobs.isolation).
OWN_PROCESS = frozenset(
    {"make_letters", "make_bulletins", "make_lsu_export", "export_establishment", "gar_export"}
)


def _periodic(name: str, cron: str, queue: str = "periodic"):
    """A periodic job: deferred once per slot of `cron` (UTC, the servers' clock) whatever the
    number of workers, never two runs at once."""

    def decorate(func):
        task = app.task(name=name, queue=queue, lock=name, queueing_lock=name)(func)
        return app.periodic(cron=cron, periodic_id=name)(task)

    return decorate


@_periodic("deliver_notifications", "*/5 * * * *")
def deliver_notifications(timestamp: int) -> dict:
    """The notifications held by quiet hours or a roll call's delay whose time came, after the
    services' periodic jobs (the roll call reminders)."""
    from preau.ent.notify import deliver_all

    return deliver_all()


@_periodic("purge_gone", "30 2 * * *")
def purge_gone(timestamp: int) -> dict:
    """Retention (RGPD): the purge_gone command's work, once a day at 02:30 UTC."""
    out = io.StringIO()
    call_command("purge_gone", "--json", stdout=out)
    return json.loads(out.getvalue())


@_periodic("import_aaf_deltas", "*/15 * * * *", queue="long")
def import_aaf_deltas(timestamp: int) -> dict:
    """The AAF's delta files deposited in the drop directory ([aaf] drop_dir), every quarter of
    an hour: the import_aaf_deltas command's work (preau.core.delta.run). A delivery refused or
    held for confirmation is in its report and in the metrics; the job itself succeeds."""
    from preau.core import delta

    if not settings.PREAU_AAF_DROP_DIR:
        return {"deliveries": [], "problems": [], "dry_run": False}
    return delta.run()


@_periodic("refresh_federation_metadata", "40 * * * *")
def refresh_federation_metadata(timestamp: int) -> dict:
    """The IdPs' metadata published at a URL, fetched and checked hourly (preau.federation.
    metadata: a refused one leaves the previous file in use, and the job fails: jobs status)."""
    out = io.StringIO()
    call_command("federation_metadata", "refresh", "--json", stdout=out)
    return json.loads(out.getvalue())


@_periodic("aggregate_usage", "20 * * * *")
def aggregate_usage(timestamp: int) -> dict:
    """The usage statistics of the console (preau.console.stats): the raw visits aggregated
    per day, week and month, hourly at :20, and what is past its retention purged."""
    from preau.console import stats

    return stats.aggregate()


@_periodic("retry_stalled_jobs", "* * * * *")
def retry_stalled_jobs(timestamp: int) -> int:
    """Jobs still marked running by a worker that died (no heartbeat for
    queue.stalled_after(): its host stopped, the process was killed) go back to the queue for
    another worker; the number of jobs."""
    return async_to_sync(_retry_stalled)()


async def _retry_stalled() -> int:
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after())
    retried = 0
    for job in stalled:
        try:
            await manager.retry_job(job)
        except exceptions.ConnectorException:  # finished or taken again meanwhile
            continue
        retried += 1
    return retried


@_periodic("remove_old_jobs", "15 2 * * *")
def remove_old_jobs(timestamp: int) -> None:
    """Jobs finished for more than KEEP_FINISHED_HOURS leave the table (failed ones too: their
    error stays in the worker's journal)."""
    async_to_sync(app.job_manager.delete_old_jobs)(
        nb_hours=KEEP_FINISHED_HOURS, include_failed=True, include_cancelled=True
    )


@app.task(name="send_notification_emails", queue="emails", retry=EMAIL_RETRY)
def send_notification_emails(notification_ids: list[int]) -> int:
    """The e-mails of just-delivered notifications (notify() and the delivery only enqueue
    this job: a web request never talks to the mail server); the number sent."""
    from preau.ent.notify import email_notifications

    return email_notifications(notification_ids)


@app.task(name="send_account_email", queue="emails", retry=EMAIL_RETRY)
def send_account_email(kind: str, user_id: int, base_url: str) -> int:
    """An account's own e-mail ("Mot de passe oublié", address confirmation: preau.core.
    account_emails), enqueued by its page; the link is made here, when it is sent."""
    from preau.core.account_emails import send

    return send(kind, user_id, base_url)


@app.task(name="export_establishment", queue="long", pass_context=True)
def export_establishment(context: JobContext, establishment_uai: str) -> dict:
    """A closed establishment's archive bundle (preau.core.closure.export, deferred by
    `establishment close` or `establishment export`); its path, SHA-256 and rows per file."""
    from preau.core import closure
    from preau.core.models import Establishment

    est = Establishment.objects.get(uai=establishment_uai)
    return closure.export(est, job_id=context.job.id)


@app.task(name="make_letters", queue="long")
def make_letters(batch_id: int, establishment_uai: str = "") -> dict:
    """A batch of activation letters: its codes issued and its PDF stored (preau.ent.letters;
    the batch's page shows this job's status until the PDF is there)."""
    from preau.ent import letters

    return letters.make(batch_id)


@app.task(name="make_bulletins", queue="long")
def make_bulletins(batch_id: int, establishment_uai: str = "") -> dict:
    """The bulletins of a class for a period: one PDF per pupil and the class's PDF stored
    (preau.grades.bulletins; the class's bulletins page shows this job's status)."""
    from preau.grades import bulletins

    return bulletins.make(batch_id)


@app.task(name="make_lsu_export", queue="long")
def make_lsu_export(batch_id: int, establishment_uai: str = "") -> dict:
    """The LSU export of a period: its XML file stored, or the French lines saying what the
    LSU requires and the data lacks (preau.grades.lsu; the period's LSU page shows this job's
    status, then the file or the lines)."""
    from preau.grades import lsu

    return lsu.make(batch_id)


@app.task(name="import_timetable", queue="long")
def import_timetable(batch_id: int, establishment_uai: str = "") -> dict:
    """An uploaded timetable or STS-Web structure file imported, all or nothing, its report
    kept (preau.timetable.imports; the import's page shows this job's status, then the
    report)."""
    from preau.timetable import imports

    return imports.make(batch_id)


@app.task(name="make_renditions", queue="periodic")
def make_renditions(file_id: int, establishment_uai: str = "") -> dict:
    """An uploaded image's JPEG (a phone's HEIC/HEIF photo) and preview (preau.ent.renditions,
    deferred by files.store()): a short job, on the queue of the short periodic ones, so a
    photo is not kept waiting behind a long import."""
    from preau.ent import renditions

    return renditions.make(file_id)


@app.task(name="send_group_message", queue="periodic")
def send_group_message(broadcast_id: int, establishment_uai: str = "") -> dict:
    """A message to groups of more than messaging.groups.LARGE people, delivered in bulk
    (preau.messaging.groups.deliver; its sender's page says « envoi en cours » until then):
    a short job, on the queue of the short ones, so that parents are not kept waiting behind
    a long import."""
    from preau.messaging import groups

    return groups.deliver(broadcast_id)


@app.task(name="gar_export", queue="long")
def gar_export(establishment_uai: str, export_id: int = 0) -> dict:
    """An establishment's GAR directory export (`export_id`, recorded by whoever asked for it:
    the médiacentre page, the nightly job) written to its own directory under `[federation]
    gar_export_dir`, then its transfer deferred (preau.gar.export.make; the médiacentre page
    shows its date and state). A refused export is recorded and fails the job."""
    from preau.gar import export

    return export.make(establishment_uai, export_id)


@_periodic("gar_export_nightly", "10 1 * * *")
def gar_export_nightly(timestamp: int) -> dict:
    """Every night at 01:10 UTC, one `gar_export` job per active establishment where the GAR
    is enabled (preau.gar.export.nightly): the GAR gets the complete export every night."""
    from preau.gar import export

    return export.nightly()


@app.task(name="gar_transfer", queue="long", retry=GAR_TRANSFER_RETRY)
def gar_transfer(export_id: int, establishment_uai: str = "") -> dict:
    """An export sent to the GAR's SFTP drop (preau.gar.transfer: temporary names, the MD5
    renamed last as the end marker); its outcome recorded on the export, retried on failure."""
    from preau.gar import transfer

    return transfer.run(export_id)

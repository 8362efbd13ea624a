"""In-app notifications that respect quiet hours (docs/domain.md): nothing is pushed between
20:00 and 07:00 nor from Friday 20:00 to Monday 07:00 (Europe/Paris), unless the establishment
adjusted its slots. Held notifications are delivered by the job queue's deliver_notifications
job.

E-mail (optional): when the platform enables it ([email] enabled in preau.toml) and the
establishment's direction opted in (Establishment.settings["email_notifications"]), each
notification is also sent by e-mail to its recipient (active accounts with an address, unless
the user turned e-mails off on "Mes préférences": User.email_notifications) at the
moment it is delivered, so e-mails keep the quiet hours too. A mail server that fails is
logged and does not fail the page or the delivery: the notification is delivered in the app
anyway.

Nothing here talks to the mail server inside a web request: notify() and the delivery enqueue
the job `send_notification_emails` (preau.jobs.tasks) in their transaction, and a worker sends
the messages (email_notifications). The delivery claims the due notifications under row locks
(SKIP LOCKED): however many workers run it at once, each notification is delivered, and its
job enqueued, once; each message is marked sent (`emailed_at`), so a job taken again after its
worker died does not send it twice."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Mapping

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from preau.core import metrics
from preau.ent.models import Notification

log = logging.getLogger("preau.notify")


def _now() -> dt.datetime:
    return timezone.now()  # one place for tests to move the clock


def quiet_hours(establishment) -> dict:
    configured = (establishment.settings or {}).get("quiet_hours") or {}
    return {**settings.PREAU_QUIET_HOURS, **configured}


def _time(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def end_of_quiet_period(establishment, now: dt.datetime | None = None) -> dt.datetime | None:
    """None when notifications may be pushed now, else the moment the quiet period ends."""
    rules = quiet_hours(establishment)
    if not rules.get("enabled", True):
        return None
    local = timezone.localtime(now or _now())
    start, end = _time(rules["start"]), _time(rules["end"])
    weekend = rules.get("weekend", True)
    clock, day = local.time(), local.date()
    # Friday 20:00 → Monday 07:00, then every evening → next morning.
    in_weekend = weekend and (
        day.weekday() in (5, 6)
        or (day.weekday() == 4 and clock >= start)
        or (day.weekday() == 0 and clock < end)
    )
    in_night = clock >= start or clock < end if start > end else start <= clock < end
    if not (in_weekend or in_night):
        return None
    resume = day if clock < end else day + dt.timedelta(days=1)
    while weekend and resume.weekday() in (5, 6):
        resume += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(resume, end), local.tzinfo)


def notify(
    establishment,
    user_ids,
    text: str,
    url: str = "",
    now: dt.datetime | None = None,
    *,
    topic: str = "",
    delay: dt.timedelta | None = None,
    urls: Mapping[int, str] | None = None,
) -> int:
    """Create one notification per user; held until the end of the quiet period if needed, and
    for `delay` at least (a roll call's window for corrections: cancel_held(topic) withdraws it
    until the delivery job delivers it). `urls` gives a user their own link instead of `url`
    (a group message: each recipient's conversation); the e-mail carries the same link."""
    now = now or _now()
    earliest = now + delay if delay else now
    held_until = end_of_quiet_period(establishment, earliest) or (earliest if delay else None)
    rows = [
        Notification(
            establishment=establishment,
            user_id=uid,
            text=text[:300],
            url=urls.get(uid, url) if urls else url,
            topic=topic,
            created_at=now,
            deliver_after=held_until or now,
            delivered_at=None if held_until else now,
        )
        for uid in set(user_ids)
    ]
    Notification.objects.bulk_create(rows, batch_size=500)
    if not held_until:
        enqueue_emails(establishment, rows)
    return len(rows)


def enqueue_emails(establishment, notifications) -> None:
    """Defer the e-mails of these delivered notifications (a job, in the caller's transaction)
    when the establishment sends them."""
    if notifications and emails_enabled(establishment):
        from preau.jobs.tasks import send_notification_emails

        send_notification_emails.defer(notification_ids=[n.pk for n in notifications])


def email_notifications(notification_ids) -> int:
    """The job's work: e-mail these notifications that were not e-mailed yet, per
    establishment; the number of messages the mail server accepted. An unreachable mail server
    fails the job, which the queue retries (those already accepted are not sent again)."""
    from preau.core.models import Establishment

    pending = Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True)
    sent = 0
    for establishment_id in pending.values_list("establishment_id", flat=True).distinct():
        establishment = Establishment.objects.get(pk=establishment_id)
        batch = list(pending.filter(establishment_id=establishment_id))
        sent += send_emails(establishment, batch, retry_later=True)
    return sent


def cancel_held(establishment, topics) -> set[str]:
    """Withdraw the notifications of these topics that were not delivered yet; returns the
    topics of which a notification was already delivered (their readers need a correction)."""
    if not topics:
        return set()
    mine = Notification.objects.filter(establishment=establishment, topic__in=list(topics))
    mine.filter(delivered_at__isnull=True).delete()
    return set(mine.values_list("topic", flat=True).distinct())


def emails_enabled(establishment) -> bool:
    """The platform sends e-mails (core.account_emails.emails_available) and so does this
    establishment."""
    from preau.core.account_emails import emails_available

    return emails_available() and bool((establishment.settings or {}).get("email_notifications"))


def email_subject(text: str) -> str:
    """One line of printable text: a title, a subject or a name with line breaks or control
    characters (typed, pasted or imported) must not break the message's headers."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return f"[Préau] {line[:120]}"


class MailServerUnreachable(Exception):
    """The job's messages could not be handed over: the queue runs the job again later."""


def send_emails(establishment, notifications, *, retry_later: bool = False) -> int:
    """E-mail just-delivered notifications (when enabled for the establishment); returns the
    number of messages the mail server accepted. A message that fails is logged and counted
    (preau_notification_emails_total{result="failed"}), never the end of the batch. A mail
    server that cannot be reached is logged and counted too; with `retry_later` (the job) it
    then raises MailServerUnreachable, so that the queue retries the rest."""
    if not notifications or not emails_enabled(establishment):
        return 0
    from preau.core.models import Membership, User

    # Only current members: a membership disabled by a local admin leaves the account active.
    members = Membership.objects.current().filter(establishment=establishment).values("user_id")
    addresses = dict(
        User.objects.filter(
            pk__in={n.user_id for n in notifications}, is_active=True, email_notifications=True
        )
        .filter(pk__in=members)
        .exclude(email="")
        .values_list("pk", "email")
    )
    preferences = reverse("notification_preferences", kwargs={"uai": establishment.uai})
    footer = (
        f"\n\n-- \nPréau, {establishment.name}. Vous recevez ce message parce que votre établissement "
        "envoie les notifications de l'ENT par e-mail. Pour ne plus les recevoir : « Mes préférences » "
        "dans Préau"
        + (f" ({settings.PREAU_SITE_URL}{preferences})." if settings.PREAU_SITE_URL else ".")
    )
    messages = [
        (
            n,
            EmailMessage(
                subject=email_subject(n.text),
                body=n.text
                + (
                    f"\n\n{settings.PREAU_SITE_URL}{n.url}"
                    if n.url and settings.PREAU_SITE_URL
                    else ""
                )
                + footer,
                to=[addresses[n.user_id]],
            ),
        )
        for n in notifications
        if n.user_id in addresses and n.emailed_at is None
    ]
    if not messages:
        return 0
    sent = 0
    try:
        with get_connection() as connection:
            for notification, message in messages:
                sent += _send_one(connection, message, establishment, notification)
    except (
        Exception
    ):  # the mail server cannot be reached: the in-app notifications are there anyway
        log.exception(
            "notification e-mails not sent",
            extra={"establishment": establishment.uai, "count": len(messages) - sent},
        )
        metrics.NOTIFICATION_EMAILS.labels(result="failed").inc(len(messages) - sent)
        if retry_later:
            raise MailServerUnreachable(establishment.uai) from None
    return sent


def _send_one(connection, message, establishment, notification) -> int:
    """1 when the mail server accepted the message (then the notification is marked e-mailed);
    else the failure is logged (the account, never its address) and counted, and the
    connection is closed so that the next message opens a fresh one."""
    user_id = notification.user_id
    try:
        sent = connection.send_messages([message]) or 0
    except Exception as exc:  # its class only: the message of some would hold the address
        log.error(
            "notification e-mail not sent",
            extra={
                "establishment": establishment.uai,
                "user": user_id,
                "error": type(exc).__name__,
            },
        )
        metrics.NOTIFICATION_EMAILS.labels(result="failed").inc()
        with contextlib.suppress(Exception):
            connection.close()
        return 0
    metrics.NOTIFICATION_EMAILS.labels(result="sent").inc(sent)
    if sent and notification.pk:
        notification.emailed_at = _now()
        Notification.objects.filter(pk=notification.pk).update(emailed_at=notification.emailed_at)
    return sent


def deliver_due(now: dt.datetime | None = None, dry_run: bool = False) -> int:
    """Deliver held notifications whose quiet period is over (re-checked per establishment,
    in case its slots were changed meanwhile); their e-mails are enqueued with them."""
    from preau.core.models import Establishment

    now = now or _now()
    due = Notification.objects.filter(delivered_at__isnull=True, deliver_after__lte=now)
    delivered = 0
    for establishment_id in due.values_list("establishment_id", flat=True).distinct():
        establishment = Establishment.objects.get(pk=establishment_id)
        if end_of_quiet_period(establishment, now) is not None:
            continue
        rows = due.filter(establishment_id=establishment_id)
        delivered += rows.count() if dry_run else _deliver(establishment, rows, now)
    return delivered


def _deliver(establishment, rows, now: dt.datetime) -> int:
    """Claim the due rows no other delivery holds (SKIP LOCKED; a row another one delivered
    meanwhile no longer matches), mark them delivered and enqueue their e-mails, in one
    transaction."""
    with transaction.atomic():
        claimed = list(rows.select_for_update(skip_locked=True).order_by("pk"))
        Notification.objects.filter(pk__in=[n.pk for n in claimed]).update(delivered_at=now)
        enqueue_emails(establishment, claimed)
    return len(claimed)


def periodic_jobs(dry_run: bool) -> dict:
    """The services' jobs that ride on the delivery (an app config's `periodic`: the vie
    scolaire's roll call reminders), run before it; their counts by name."""
    from preau.ent.apps import SERVICE_APPS

    report: dict = {}
    for label in SERVICE_APPS:
        job = getattr(apps.get_app_config(label), "periodic", None)
        if job is not None:
            report.update(job(_now(), dry_run=dry_run))
    return report


def deliver_all(dry_run: bool = False) -> dict:
    """The periodic delivery job (preau.jobs.tasks.deliver_notifications, and the
    deliver_notifications command): the services' jobs, then the held notifications."""
    jobs = periodic_jobs(dry_run)
    return {"dry_run": dry_run, **jobs, "delivered": deliver_due(dry_run=dry_run)}

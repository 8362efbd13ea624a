"""In-app notifications that respect quiet hours (docs/domain.md): nothing is pushed between
20:00 and 07:00 nor from Friday 20:00 to Monday 07:00 (Europe/Paris), unless the establishment
adjusted its slots. Held notifications are delivered by `deliver_notifications` (a timer).

E-mail (optional): when the platform enables it ([email] enabled in preau.toml) and the
establishment's direction opted in (Establishment.settings["email_notifications"]), each
notification is also sent by e-mail to its recipient (active accounts with an address, unless
the user turned e-mails off on "Mes préférences": User.email_notifications) at the
moment it is delivered, so e-mails keep the quiet hours too. A mail server that fails is
logged and does not fail the page or the timer: the notification is delivered in the app
anyway."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
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
) -> int:
    """Create one notification per user; held until the end of the quiet period if needed, and
    for `delay` at least (a roll call's window for corrections: cancel_held(topic) withdraws it
    until the timer delivers it)."""
    now = now or _now()
    earliest = now + delay if delay else now
    held_until = end_of_quiet_period(establishment, earliest) or (earliest if delay else None)
    rows = [
        Notification(
            establishment=establishment,
            user_id=uid,
            text=text[:300],
            url=url,
            topic=topic,
            created_at=now,
            deliver_after=held_until or now,
            delivered_at=None if held_until else now,
        )
        for uid in set(user_ids)
    ]
    Notification.objects.bulk_create(rows, batch_size=500)
    if not held_until:
        send_emails(establishment, rows)
    return len(rows)


def cancel_held(establishment, topics) -> set[str]:
    """Withdraw the notifications of these topics that were not delivered yet; returns the
    topics of which a notification was already delivered (their readers need a correction)."""
    if not topics:
        return set()
    mine = Notification.objects.filter(establishment=establishment, topic__in=list(topics))
    mine.filter(delivered_at__isnull=True).delete()
    return set(mine.values_list("topic", flat=True).distinct())


def emails_enabled(establishment) -> bool:
    return bool(
        settings.PREAU_EMAIL_NOTIFICATIONS
        and (establishment.settings or {}).get("email_notifications")
    )


def email_subject(text: str) -> str:
    """One line of printable text: a title, a subject or a name with line breaks or control
    characters (typed, pasted or imported) must not break the message's headers."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return f"[Préau] {line[:120]}"


def send_emails(establishment, notifications) -> int:
    """E-mail just-delivered notifications (when enabled for the establishment); returns the
    number of messages the mail server accepted. A message that fails is logged and counted
    (preau_notification_emails_total{result="failed"}), never the end of the batch."""
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
            n.user_id,
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
        if n.user_id in addresses
    ]
    if not messages:
        return 0
    sent = 0
    try:
        with get_connection() as connection:
            for user_id, message in messages:
                sent += _send_one(connection, message, establishment, user_id)
    except (
        Exception
    ):  # the mail server cannot be reached: the in-app notifications are there anyway
        log.exception(
            "notification e-mails not sent",
            extra={"establishment": establishment.uai, "count": len(messages) - sent},
        )
        metrics.NOTIFICATION_EMAILS.labels(result="failed").inc(len(messages) - sent)
    return sent


def _send_one(connection, message, establishment, user_id) -> int:
    """1 when the mail server accepted the message; else the failure is logged (the account,
    never its address) and counted, and the connection is closed so that the next message
    opens a fresh one."""
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
    return sent


def deliver_due(now: dt.datetime | None = None, dry_run: bool = False) -> int:
    """Deliver held notifications whose quiet period is over (re-checked per establishment,
    in case its slots were changed meanwhile)."""
    now = now or _now()
    due = Notification.objects.filter(delivered_at__isnull=True, deliver_after__lte=now)
    delivered = 0
    for establishment_id in due.values_list("establishment_id", flat=True).distinct():
        from preau.core.models import Establishment

        establishment = Establishment.objects.get(pk=establishment_id)
        if end_of_quiet_period(establishment, now) is not None:
            continue
        rows = due.filter(establishment_id=establishment_id)
        if dry_run:
            delivered += rows.count()
            continue
        to_email = list(rows) if emails_enabled(establishment) else []
        delivered += rows.update(delivered_at=now)
        send_emails(establishment, to_email)
    return delivered

"""In-app notifications that respect quiet hours (docs/domain.md): nothing is pushed between
20:00 and 07:00 nor from Friday 20:00 to Monday 07:00 (Europe/Paris), unless the establishment
adjusted its slots. Held notifications are delivered by `deliver_notifications` (a timer)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from preau.ent.models import Notification


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
    in_weekend = weekend and (day.weekday() in (5, 6) or (day.weekday() == 4 and clock >= start)
                              or (day.weekday() == 0 and clock < end))
    in_night = clock >= start or clock < end if start > end else start <= clock < end
    if not (in_weekend or in_night):
        return None
    resume = day if clock < end else day + dt.timedelta(days=1)
    while weekend and resume.weekday() in (5, 6):
        resume += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(resume, end), local.tzinfo)


def notify(establishment, user_ids, text: str, url: str = "", now: dt.datetime | None = None) -> int:
    """Create one notification per user; held until the end of the quiet period if needed."""
    now = now or _now()
    held_until = end_of_quiet_period(establishment, now)
    rows = [Notification(establishment=establishment, user_id=uid, text=text[:300], url=url,
                         created_at=now, deliver_after=held_until or now,
                         delivered_at=None if held_until else now)
            for uid in set(user_ids)]
    Notification.objects.bulk_create(rows, batch_size=500)
    return len(rows)


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
        delivered += rows.count() if dry_run else rows.update(delivered_at=now)
    return delivered

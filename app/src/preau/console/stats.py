"""Aggregation of the raw visits into the audience measures, and their retention (the
`aggregate_usage` job, hourly: preau.jobs.tasks).

Definitions (app/README.md, "Console"):
- a **visitor** is an account (its keyed hash) seen at least once in the period, per
  establishment and profile;
- a **visit** is a run of a visitor's consecutive active half-hour slots of a day: pages less
  than 30 minutes apart are always one visit, pages more than an hour apart always two (in
  between, it depends on where the slots' bounds fall). Per service, the same with that
  service's pages only. A week's or a month's visits are the sum of its days'.

Each run recomputes every day that still has raw rows (at most [retention] usage_raw_days of
them), then the weeks and months those days belong to; running it twice gives the same rows.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from preau.console.models import PeriodVisitor, UsageStat, Visit

# Visits of one day per (uai, profile, service): a slot starts a visit when the visitor had no
# activity (on that service, or on any for service "") in the slot before.
DAY_SQL = """
WITH slots AS (
    SELECT DISTINCT uai, profile, service, visitor, slot FROM console_visit WHERE day = %(day)s
    UNION ALL
    SELECT DISTINCT uai, profile, '', visitor, slot FROM console_visit WHERE day = %(day)s
), starts AS (
    SELECT uai, profile, service, visitor,
           slot - lag(slot) OVER (PARTITION BY uai, profile, service, visitor ORDER BY slot)
               IS DISTINCT FROM 1 AS starts
    FROM slots
)
INSERT INTO console_usagestat (period, start, uai, profile, service, visitors, visits)
SELECT 'jour', %(day)s, uai, profile, service, count(DISTINCT visitor),
       count(*) FILTER (WHERE starts)
FROM starts GROUP BY uai, profile, service
"""

# A week's or a month's figures: visitors from its PeriodVisitor rows (all services), visits
# summed over its days.
PERIOD_SQL = """
INSERT INTO console_usagestat (period, start, uai, profile, service, visitors, visits)
SELECT %(period)s, %(start)s, d.uai, d.profile, d.service,
       CASE WHEN d.service = '' THEN (
           SELECT count(*) FROM console_periodvisitor v
           WHERE v.period = %(period)s AND v.start = %(start)s AND v.uai = d.uai
             AND v.profile = d.profile)
       END,
       sum(d.visits)
FROM console_usagestat d
WHERE d.period = 'jour' AND d.start >= %(start)s AND d.start < %(end)s
GROUP BY d.uai, d.profile, d.service
"""

# The visitors of the day's week and month, remembered for the period's distinct count.
PERIOD_VISITORS_SQL = """
INSERT INTO console_periodvisitor (period, start, uai, profile, visitor)
SELECT DISTINCT %(period)s, %(start)s::date, uai, profile, visitor
FROM console_visit WHERE day = %(day)s
ON CONFLICT DO NOTHING
"""


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=7)


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=31)).replace(day=1)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` months before `day` (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


PERIODS = {"semaine": week_of, "mois": month_of}


def raw_days() -> int:
    return settings.RETENTION["usage_raw_days"]


def stats_months() -> int:
    return settings.RETENTION["usage_stats_months"]


def aggregate(today: dt.date | None = None) -> dict:
    """Recompute the aggregates of the days with raw rows and of their weeks and months, then
    purge what is past its retention. Returns what it did (the job's result)."""
    today = today or timezone.localdate()
    with transaction.atomic(), connection.cursor() as cursor:
        days = sorted(Visit.objects.values_list("day", flat=True).distinct())
        periods: set[tuple[str, dt.date, dt.date]] = set()
        for day in days:
            UsageStat.objects.filter(period=UsageStat.Period.DAY, start=day).delete()
            cursor.execute(DAY_SQL, {"day": day})
            for period, bounds in PERIODS.items():
                start, end = bounds(day)
                cursor.execute(PERIOD_VISITORS_SQL, {"period": period, "start": start, "day": day})
                periods.add((period, start, end))
        for period, start, end in sorted(periods):
            UsageStat.objects.filter(period=period, start=start).delete()
            cursor.execute(PERIOD_SQL, {"period": period, "start": start, "end": end})
        purged = purge(today)
    return {"days": [d.isoformat() for d in days], "periods": len(periods), **purged}


def purge(today: dt.date) -> dict:
    """Retention: raw rows older than usage_raw_days days; a period's visitors once it ended
    that long ago (no raw row of it is left to recompute it); aggregates older than
    usage_stats_months months."""
    raw_limit = today - dt.timedelta(days=raw_days())
    stats_limit = months_before(today, stats_months())
    raw, _ = Visit.objects.filter(day__lt=raw_limit).delete()
    visitors = 0
    for period, start in PeriodVisitor.objects.values_list("period", "start").distinct():
        if PERIODS[period](start)[1] <= raw_limit:
            rows = PeriodVisitor.objects.filter(period=period, start=start)
            visitors += rows.delete()[0]
    stats, _ = UsageStat.objects.filter(start__lt=stats_limit).delete()
    return {"purged_raw": raw, "purged_period_visitors": visitors, "purged_stats": stats}

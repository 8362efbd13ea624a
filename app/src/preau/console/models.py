"""Usage statistics in the shape of the ministry's ENT audience measures.

None of these tables has a foreign key, on purpose: a page records its visit with one INSERT
while a release's migration may hold (or wait in the queue for) an ACCESS EXCLUSIVE lock on
`core_establishment` or `core_user`. A foreign key would make that INSERT take a lock on the
referenced row's table (its check), and the request would queue behind the migration. So the
establishment is its UAI, the visitor a keyed hash (preau.console.usage.visitor_hash), never
the account's id: these rows outlive neither their retention nor the account's anonymity.
"""

from django.db import models


class Visit(models.Model):
    """Raw activity: a visitor seen in an establishment, with a profile, on a service, during
    one half-hour slot of a day (0 = 00:00–00:29 … 47). One row at most per such tuple (the
    INSERT is ON CONFLICT DO NOTHING), kept [retention] usage_raw_days days."""

    day = models.DateField()
    slot = models.PositiveSmallIntegerField()
    uai = models.CharField(max_length=8)
    profile = models.CharField(max_length=3)
    service = models.CharField(max_length=20)
    visitor = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "uai", "profile", "service", "visitor", "slot"],
                name="console_visit_unique",
            )
        ]


class PeriodVisitor(models.Model):
    """The visitors (hashes) of a week or a month, per establishment and profile: what its
    distinct visitors are counted from once the raw rows of its first days are purged. Removed
    once the period ended [retention] usage_raw_days days ago (its figure is then final)."""

    period = models.CharField(max_length=7)  # "semaine" or "mois"
    start = models.DateField()
    uai = models.CharField(max_length=8)
    profile = models.CharField(max_length=3)
    visitor = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start", "uai", "profile", "visitor"],
                name="console_periodvisitor_unique",
            )
        ]


class UsageStat(models.Model):
    """An aggregate: per period (day, week starting Monday, month), establishment and profile,
    the distinct visitors and the visits, all services together (`service` = "") or per
    service (visits only for a week or a month: visitors are not summed across days). Kept
    [retention] usage_stats_months months."""

    class Period(models.TextChoices):
        DAY = "jour", "Jour"
        WEEK = "semaine", "Semaine"
        MONTH = "mois", "Mois"

    period = models.CharField(max_length=7, choices=Period.choices)
    start = models.DateField()
    uai = models.CharField(max_length=8)
    profile = models.CharField(max_length=3)
    service = models.CharField(max_length=20, blank=True)
    visitors = models.PositiveIntegerField(null=True)
    visits = models.PositiveIntegerField()

    class Meta:
        ordering = ["start", "uai", "profile", "service"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start", "uai", "profile", "service"],
                name="console_usagestat_unique",
            )
        ]
        indexes = [models.Index(fields=["period", "uai", "start"], name="console_usagestat_find")]

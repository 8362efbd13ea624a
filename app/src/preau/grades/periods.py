"""The establishment's periods (trimesters or semesters) of a school year: the default proposal,
the rules a set of periods follows (French errors), saving them without losing appreciations."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from preau.grades.models import Appreciation, Period

ROWS = 3  # three trimesters, or two semesters (the third row left empty)


def year_bounds(year: int) -> tuple[dt.date, dt.date]:
    """The school year `year` (2026 = 2026-27): 1 September to 31 August."""
    return dt.date(year, 9, 1), dt.date(year + 1, 8, 31)


def proposal(year: int) -> list[dict]:
    """Three trimesters covering the school year: what the periods page offers first."""
    first, last = year_bounds(year)
    december, march = dt.date(year, 12, 1), dt.date(year + 1, 3, 1)
    return [
        {"name": "1er trimestre", "start": first, "end": december - dt.timedelta(days=1)},
        {"name": "2e trimestre", "start": december, "end": march - dt.timedelta(days=1)},
        {"name": "3e trimestre", "start": march, "end": last},
    ]


def _day(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def problems(rows: list[dict], year: int) -> list[str]:
    """What is wrong with these periods (each {name, start, end}, sorted by start), in French:
    two or three of them, each starting before it ends, without overlap nor gap, covering the
    school year."""
    if len(rows) < 2:
        return ["Indiquez deux périodes (semestres) ou trois (trimestres)."]
    errors = [
        f"« {row['name']} » : la date de début ({_day(row['start'])}) est après la date de fin "
        f"({_day(row['end'])})."
        for row in rows
        if row["start"] > row["end"]
    ]
    if errors:
        return errors
    first, last = year_bounds(year)
    if rows[0]["start"] != first:
        errors.append(
            f"« {rows[0]['name']} » doit commencer le {_day(first)} : les périodes couvrent "
            f"toute l'année scolaire {year}-{year + 1}."
        )
    for before, after in zip(rows, rows[1:], strict=False):
        following = before["end"] + dt.timedelta(days=1)
        if after["start"] < following:
            errors.append(
                f"« {before['name']} » et « {after['name']} » se chevauchent (du "
                f"{_day(after['start'])} au {_day(min(before['end'], after['end']))})."
            )
        elif after["start"] > following:
            errors.append(
                f"Entre « {before['name']} » et « {after['name']} », les jours du "
                f"{_day(following)} au {_day(after['start'] - dt.timedelta(days=1))} "
                "n'appartiennent à aucune période."
            )
    if rows[-1]["end"] != last:
        errors.append(
            f"« {rows[-1]['name']} » doit finir le {_day(last)} : les périodes couvrent "
            f"toute l'année scolaire {year}-{year + 1}."
        )
    return errors


def periods_of(establishment_id: int, year: int) -> list[Period]:
    return list(Period.objects.filter(establishment_id=establishment_id, school_year=year))


def period_of(periods: list[Period], day: dt.date) -> Period | None:
    """The period containing this day (an assessment's date)."""
    return next((p for p in periods if p.start <= day <= p.end), None)


@transaction.atomic
def save(establishment, year: int, rows: list[dict]) -> list[str]:
    """Replace the year's periods by these (checked with problems() first): the existing ones
    are updated in order, keeping their appreciations and publication; one removed while it
    holds appreciations is refused (nothing changes). Returns the refusals, in French."""
    existing = list(
        Period.objects.select_for_update().filter(establishment=establishment, school_year=year)
    )
    removed = existing[len(rows) :]
    kept = (
        Appreciation.objects.filter(period__in=removed)
        .values_list("period__name", flat=True)
        .distinct()
    )
    if removed and (names := sorted(kept)):
        return [
            f"La période « {name} » a déjà des appréciations : elle ne peut pas être retirée."
            for name in names
        ]
    for period, row in zip(existing, rows, strict=False):
        period.name, period.start, period.end = row["name"], row["start"], row["end"]
    Period.objects.bulk_update(existing[: len(rows)], ["name", "start", "end"])
    Period.objects.filter(pk__in=[p.pk for p in removed]).delete()
    Period.objects.bulk_create(
        Period(establishment=establishment, school_year=year, **row)
        for row in rows[len(existing) :]
    )
    return []

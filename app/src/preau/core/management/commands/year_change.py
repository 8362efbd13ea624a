from django.db import transaction

from preau.core.management.base import OpsCommand, OpsError
from preau.core.models import ClassGroup, OperationLog, Platform


class Command(OpsCommand):
    help = (
        "School year change (rentrée): the previous year's classes and groups become read-only; "
        "the new year starts with no class memberships (the next import fills them)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--year", type=int, help="new school year (default: current + 1), e.g. 2027 for 2027-28"
        )

    def run(self, year=None, dry_run=False, **_):
        with transaction.atomic():
            platform = Platform.objects.select_for_update().get(pk=Platform.get().pk)
            previous = Platform.current_school_year()
            year = year or previous + 1
            if year <= previous:
                raise OpsError(
                    f"l'année {year} n'est pas postérieure à l'année courante {previous}"
                )
            frozen = ClassGroup.objects.filter(school_year__lt=year, read_only=False)
            frozen_count = frozen.update(read_only=True)
            platform.school_year = year
            platform.save(update_fields=["school_year"])
            for est_id in (
                ClassGroup.objects.filter(school_year=previous)
                .values_list("establishment_id", flat=True)
                .distinct()
            ):
                OperationLog.objects.create(
                    establishment_id=est_id,
                    kind="year_change",
                    summary={"from": previous, "to": year},
                )
            result = {
                "dry_run": dry_run,
                "previous_year": previous,
                "school_year": year,
                "classes_made_read_only": frozen_count,
            }
            if dry_run:
                transaction.set_rollback(True)
        return result

    def render(self, r):
        dry = " (SIMULATION, rien n'a été modifié)" if r["dry_run"] else ""
        return (
            f"Rentrée{dry} : année {r['previous_year']}-{r['previous_year'] + 1} → "
            f"{r['school_year']}-{r['school_year'] + 1}, {r['classes_made_read_only']} classe(s)/groupe(s) "
            "passé(s) en lecture seule"
        )

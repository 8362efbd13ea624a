"""The socle commun per period (issue #18 item 5): each pupil's level on the eight components
(SocleLevel), set for a whole class in one form by its teachers or the direction, read by the
pupil and their parents once the period is published (the Relevé page, the bulletin).

One owner for what the pages and the bulletin share: the components' order and short names,
reading the levels of pupils in a period, checking a posted grid (French errors naming the pupil
and the component: nothing saved when one is wrong) and saving it in one transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from preau.grades.models import Mastery, Period, SocleComponent, SocleLevel

COMPONENTS = list(SocleComponent)
# The LSU's domain numbers: what the grid's column headers show (the names stand below it).
DOMAINS = {
    SocleComponent.CPD_FRA: "D1.1",
    SocleComponent.CPD_ETR: "D1.2",
    SocleComponent.CPD_SCI: "D1.3",
    SocleComponent.CPD_ART: "D1.4",
    SocleComponent.MET_APP: "D2",
    SocleComponent.FRM_CIT: "D3",
    SocleComponent.SYS_NAT: "D4",
    SocleComponent.REP_MND: "D5",
}
NOT_ASSESSED = "Non évalué"


def field_name(student_id: int, component: str) -> str:
    return f"socle_{student_id}_{component}"


def levels_of(queryset, period: Period, student_ids) -> dict[int, dict[str, SocleLevel]]:
    """{pupil id: {component: SocleLevel}} of these pupils in the period; `queryset`: the
    SocleLevel rows the caller may read (for_request(), or all of them for the job)."""
    found: dict[int, dict[str, SocleLevel]] = {}
    for row in queryset.filter(period=period, student_id__in=list(student_ids)):
        found.setdefault(row.student_id, {})[row.component] = row
    return found


def shown(levels: dict[str, SocleLevel]) -> list[dict]:
    """A pupil's eight components as the Relevé and the bulletin list them (name, domain and
    level text: "Non évalué" for a component without a level); [] when none has a level."""
    if not levels:
        return []
    return [
        {
            "component": c,
            "domain": DOMAINS[c],
            "label": c.label,
            "level": Mastery(levels[c].level).label if c in levels else NOT_ASSESSED,
        }
        for c in COMPONENTS
    ]


def posted(data, students) -> tuple[dict, dict[str, str]]:
    """The levels of a posted grid: {(pupil id, component): level or None (not assessed)} for
    every field present (a missing field leaves its level as it is), and the French errors
    {field name: error} (one per wrong field, naming the pupil and the component: the grid
    shows each beside its cell, and all of them above)."""
    values: dict[tuple[int, str], int | None] = {}
    errors: dict[str, str] = {}
    allowed = {str(level.value): level.value for level in Mastery}
    for student in students:
        for component in COMPONENTS:
            name = field_name(student.pk, component)
            raw = data.get(name)
            if raw is None:
                continue
            raw = raw.strip()
            if raw == "":
                values[(student.pk, component.value)] = None
            elif raw in allowed:
                values[(student.pk, component.value)] = allowed[raw]
            else:
                errors[name] = (
                    f"Niveau « {raw[:20]} » refusé pour {student.first_name} "
                    f"{student.last_name}, composante « {component.label} » "
                    f"({DOMAINS[component]}) : choisissez un niveau de 1 à 4 ou « {NOT_ASSESSED} »."
                )
    return values, errors


@transaction.atomic
def save(establishment, period: Period, existing: dict, values: dict, *, by) -> int:
    """Write the checked levels (posted()) over `existing` (levels_of()) in two statements: the
    new and changed levels in one upsert (recording their author and time; a level another
    teacher saved meanwhile is overwritten, not refused), "not assessed" deleting the row. How
    many levels changed."""
    now = timezone.now()
    written, emptied = [], []
    for (student_id, component), level in values.items():
        found = existing.get(student_id, {}).get(component)
        if level is None:
            if found is not None:
                emptied.append(found.pk)
        elif found is None or found.level != level:
            written.append(
                SocleLevel(
                    establishment=establishment,
                    period=period,
                    student_id=student_id,
                    component=component,
                    level=level,
                    author=by,
                    updated_at=now,
                )
            )
    if written:
        SocleLevel.objects.bulk_create(
            written,
            update_conflicts=True,
            unique_fields=["period", "student", "component"],
            update_fields=["level", "author", "updated_at"],
        )
    if emptied:
        SocleLevel.objects.filter(pk__in=emptied).delete()
    return len(written) + len(emptied)

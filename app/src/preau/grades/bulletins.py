"""Report cards (bulletins, issue #18 item 6): per pupil and period, the numbers of the
"Relevé du trimestre" page (summary(): the same functions) as an A4 PDF; per class, one PDF for
printing, made by a background job (app/README.md, "Bulletins").

1. `create_batch` (the direction's or a local admin's POST): a BulletinBatch row and the job
   `make_bulletins` deferred in the same transaction.
2. `make` (the job): every current pupil of the class, in class order (name): one PDF per pupil
   (a Bulletin row: what the family downloads once the period is published) and the class's
   PDF (every pupil's pages, for printing), stored as private files of the establishment, in
   one transaction; a batch already made is left alone (a job run again changes nothing).
A new batch of the same class and period replaces the previous one for the families (the
latest made is the one downloaded); the previous stays listed.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from reportlab.lib.units import mm

from preau.core.display import average
from preau.core.models import ClassMembership
from preau.ent import files
from preau.ent.access import STUDENTS_OF
from preau.ent.pdf import MARGIN, TEXT_WIDTH, canvas, letterhead, paragraph, wrapped
from preau.grades import averages, socle
from preau.grades.models import Appreciation, Bulletin, BulletinBatch, Grade, SocleLevel

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

TASK = "make_bulletins"


def subject_label(subject) -> str:
    return (subject.label or subject.code) if subject else "Autre"


def summary(subjects: list[dict], said: dict) -> dict:
    """One pupil's period, as the "Relevé" page and the bulletin show it: per subject (by
    label) the pupil's average, the class's average, lowest and highest (rounded), the
    teacher's appreciation; the general average and the council's appreciation. `subjects`:
    the pupil's averages.by_subject() over the period's grades of the pupil's classes and
    groups; `said`: {subject id or None: text}."""
    rows = sorted(subjects, key=lambda r: subject_label(r["subject"]))
    for row in rows:
        row["label"] = subject_label(row["subject"])
        row["appreciation"] = said.get(row["subject_id"], "") if row["subject_id"] else ""
        row["shown"] = {
            "average": averages.rounded(row["average"]),
            "class_average": averages.rounded(row["class"]["average"]),
            "low": averages.rounded(row["class"]["low"]),
            "high": averages.rounded(row["class"]["high"]),
        }
    return {
        "rows": rows,
        "overall": averages.rounded(averages.mean(r["average"] for r in rows)),
        "general": said.get(None, ""),
    }


def create_batch(est, class_group, period, *, by: str) -> BulletinBatch:
    """A new batch of this class's bulletins for this period, its job deferred."""
    with transaction.atomic():
        batch = BulletinBatch.objects.create(
            establishment=est, class_group=class_group, period=period, requested_by=by
        )
        batch.defer(TASK)
    return batch


def make(batch_id: int) -> dict:
    """The job's work: the bulletins of the class's current pupils, stored in one transaction;
    a batch already made is left as it is."""
    with transaction.atomic():
        batch = (
            BulletinBatch.objects.select_for_update()
            .select_related("establishment", "class_group", "period")
            .get(pk=batch_id)
        )
        if batch.made_at is None:
            _make(batch)
    return {"batch": batch.pk, "pupils": batch.pupils, "file": batch.file_id}


def period_figures(est, period, pupils) -> tuple[dict, dict, dict]:
    """What a period holds for these pupils, read in a few queries, shared by the bulletins and
    the LSU export (preau.grades.lsu): {pupil id: averages.by_subject() rows} over the period's
    grades of each pupil's classes and groups, {pupil id: {subject id or None: appreciation}}
    and {pupil id: socle levels} (socle.levels_of)."""
    classes: dict[int, set[int]] = {}
    for user_id, class_id in ClassMembership.objects.filter(
        class_group__establishment=est,
        class_group__school_year=period.school_year,
        user_id__in=[p.pk for p in pupils],
    ).values_list("user_id", "class_group_id"):
        classes.setdefault(user_id, set()).add(class_id)
    grades = list(
        Grade.objects.filter(
            assessment__establishment=est,
            assessment__class_group_id__in=set().union(*classes.values()),
            assessment__date__range=(period.start, period.end),
        )
        .select_related("assessment", "assessment__subject")
        .order_by("assessment__date", "assessment_id")
    )
    said: dict[int, dict] = {}
    for a in Appreciation.objects.filter(period=period, student__in=pupils):
        said.setdefault(a.student_id, {})[a.subject_id] = a.text
    levels = socle.levels_of(SocleLevel.objects.of(est), period, [p.pk for p in pupils])
    # Pupils of the same classes and groups share their grades: averages computed once.
    sharing: dict[frozenset, list[int]] = {}
    for pupil in pupils:
        sharing.setdefault(frozenset(classes.get(pupil.pk, ())), []).append(pupil.pk)
    subjects: dict[int, list[dict]] = {}
    for mine, ids in sharing.items():
        theirs = [g for g in grades if g.assessment.class_group_id in mine]
        subjects.update(averages.by_subject_for(theirs, ids))
    return subjects, said, levels


def _make(batch: BulletinBatch) -> None:
    est, period = batch.establishment, batch.period
    pupils = [m.user for m in STUDENTS_OF.rows(est=est.pk, class_group=batch.class_group_id)]
    subjects, said, levels = period_figures(est, period, pupils)
    now = timezone.now()
    out = io.BytesIO()
    whole = canvas(out, f"Bulletins – {batch.class_group.name} – {period.name}")
    bulletins = []
    for pupil in pupils:
        figures = summary(subjects[pupil.pk], said.get(pupil.pk, {}))
        figures["socle"] = socle.shown(levels.get(pupil.pk, {}))
        one = io.BytesIO()
        alone = canvas(one, f"Bulletin – {pupil.first_name} {pupil.last_name} – {period.name}")
        for pdf in (alone, whole):
            _pages(pdf, batch, pupil, figures, now)
        alone.save()
        name = f"bulletin-{est.uai}-{period.pk}-{pupil.username}.pdf"
        stored = files.store_generated(est, name, one.getvalue())
        bulletins.append(Bulletin(establishment=est, batch=batch, student=pupil, file=stored))
    Bulletin.objects.bulk_create(bulletins)
    batch.made_at, batch.pupils = now, len(pupils)
    if pupils:
        whole.save()
        name = f"bulletins-{est.uai}-{batch.class_group.name}-{period.pk}-{now:%Y%m%d}.pdf"
        batch.file = files.store_generated(est, name, out.getvalue())
    batch.save()


# --- the PDF ------------------------------------------------------------------------------------

COLUMNS = (  # (title, x from the margin): subject, pupil's average, class's figures, appreciation
    ("Matière", 0),
    ("Élève", 42 * mm),
    ("Classe", 58 * mm),
    ("Min.", 74 * mm),
    ("Max.", 88 * mm),
    ("Appréciation", 102 * mm),
)
APPRECIATION_WIDTH = TEXT_WIDTH - COLUMNS[-1][1]
LINE = 4.5 * mm


def _pages(pdf: Canvas, batch: BulletinBatch, pupil, figures: dict, now) -> None:
    """A pupil's bulletin: one page, a second one when the appreciations need it."""
    est, period = batch.establishment, batch.period
    y = letterhead(pdf, est)
    pdf.setFont("Helvetica-Bold", 16)
    year = f"{period.school_year}-{period.school_year + 1}"
    pdf.drawString(MARGIN, y, f"Bulletin du {period.name} – année {year}")
    y -= 9 * mm
    pdf.setFont("Helvetica", 12)
    pdf.drawString(MARGIN, y, f"{pupil.first_name} {pupil.last_name}".strip() or pupil.username)
    pdf.drawString(MARGIN, y - 6 * mm, f"Classe {batch.class_group.name}")
    pdf.setFont("Helvetica", 9)
    pdf.drawString(
        MARGIN,
        y - 12 * mm,
        f"Du {period.start:%d/%m/%Y} au {period.end:%d/%m/%Y}. Moyennes sur 20 pondérées par "
        "les coefficients, arrondies au centième ; Abs, Disp, NRdu, Inap, NNot ne comptent pas.",
    )
    y -= 22 * mm
    y = _header(pdf, y)
    for row in figures["rows"]:
        lines = paragraph_lines(row["appreciation"] or "—")
        if y - LINE * len(lines) < MARGIN + 30 * mm:
            pdf.showPage()
            y = _header(pdf, letterhead(pdf, est))
        shown = row["shown"]
        cells = (
            row["label"],
            average(shown["average"]),
            average(shown["class_average"]),
            average(shown["low"]),
            average(shown["high"]),
        )
        for (_, x), text in zip(COLUMNS, cells, strict=False):
            pdf.setFont("Helvetica-Bold" if x == COLUMNS[1][1] else "Helvetica", 10)
            pdf.drawString(MARGIN + x, y, text[:24])
        pdf.setFont("Helvetica", 9)
        for line in lines:
            pdf.drawString(MARGIN + COLUMNS[-1][1], y, line)
            y -= LINE
        y -= 2 * mm
        pdf.line(MARGIN, y + LINE - 1 * mm, MARGIN + TEXT_WIDTH, y + LINE - 1 * mm)
    if not figures["rows"]:
        pdf.setFont("Helvetica", 10)
        pdf.drawString(MARGIN, y, "Aucune note sur cette période.")
        y -= LINE
    y -= 6 * mm
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(MARGIN, y, f"Moyenne générale : {average(figures['overall'])}")
    y -= 8 * mm
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(MARGIN, y, "Appréciation générale du conseil de classe :")
    y = paragraph(pdf, figures["general"] or "—", MARGIN, y - 6 * mm, TEXT_WIDTH, size=10)
    if figures.get("socle"):
        _socle(pdf, est, figures["socle"], y - 4 * mm)
    pdf.setFont("Helvetica", 8)
    pdf.drawString(MARGIN, MARGIN - 8 * mm, f"Édité le {timezone.localtime(now):%d/%m/%Y}")
    pdf.showPage()


SOCLE_LEVEL_X = 128 * mm  # the level's column, right of the component's name


def _socle(pdf: Canvas, est, rows: list[dict], y: float) -> None:
    """The "Socle commun" section: each component's name (wrapped) and the pupil's level; on a
    new page when the first one's does not hold it."""
    lines = [wrapped(row["label"], 9, SOCLE_LEVEL_X - 4 * mm) for row in rows]
    if y - 8 * mm - LINE * sum(map(len, lines)) < MARGIN:
        pdf.showPage()
        y = letterhead(pdf, est)
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(MARGIN, y, "Socle commun")
    y -= 6 * mm
    for row, label in zip(rows, lines, strict=True):
        top = y
        pdf.setFont("Helvetica", 9)
        for line in label:
            pdf.drawString(MARGIN, y, line)
            y -= LINE
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(MARGIN + SOCLE_LEVEL_X, top, row["level"])


def paragraph_lines(text: str) -> list[str]:
    return wrapped(text, 9, APPRECIATION_WIDTH)


def _header(pdf: Canvas, y: float) -> float:
    pdf.setFont("Helvetica-Bold", 10)
    for title, x in COLUMNS:
        pdf.drawString(MARGIN + x, y, title)
    pdf.line(MARGIN, y - 2 * mm, MARGIN + TEXT_WIDTH, y - 2 * mm)
    return y - 7 * mm

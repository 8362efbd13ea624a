"""Bulletins (issue #18 item 6): a class's batch made by a real worker, one page per pupil in
class order holding the hand-computed averages of the periods' fixture (tests.grades
.test_periods.marks) and "—" for the pupil with non-marks only; families download their own
once the period is published (the other establishment: tests/test_isolation.py)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from preau.grades.models import Appreciation, BulletinBatch, SocleLevel
from tests.ent.test_letters import pdf_pages
from tests.grades.test_periods import marks  # noqa: F401 (the fixture)
from tests.school import url


def pages_of(response) -> list[str]:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return pdf_pages(b"".join(response.streaming_content))


def test_class_bulletins_made_by_the_job_and_read_by_families(client, run_jobs, marks):  # noqa: F811
    s = marks
    period = s["period"]
    Appreciation.objects.create(
        period=period, student=s["student"], subject=s["subject"], text="Très bon travail."
    )
    Appreciation.objects.create(
        period=period, student=s["student"], subject=None, text="Félicitations du conseil."
    )
    SocleLevel.objects.filter(student=s["student"]).delete()  # make_school's
    for component, level in (("CPD_FRA", 4), ("REP_MND", 2)):
        SocleLevel.objects.create(
            establishment=s["est"], period=period, student=s["student"], component=component,
            level=level,
        )  # fmt: skip
    page = url(s, "class_bulletins", class_id=s["class"].pk, period_id=period.pk)
    client.force_login(s["admin"])
    assert client.post(page).status_code == 302  # Post/Redirect/Get
    waiting = client.get(page)
    assert "Bulletins en préparation" in waiting.content.decode() and waiting["Refresh"] == "5"
    client.post(page)  # a second click meanwhile asks for nothing more
    first = BulletinBatch.objects.get(made_at__isnull=True)
    # Its job failed (as a worker would record it): the page says so and a new batch may go.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", [first.job_id]
        )
    failed = client.get(page)
    assert "La préparation a échoué" in failed.content.decode() and not failed.has_header("Refresh")
    client.post(page)
    assert BulletinBatch.objects.filter(made_at__isnull=True).count() == 2

    run_jobs()
    with CaptureQueriesContext(connection) as queries:
        ready = client.get(page)
    assert len(queries) <= 10 and not ready.has_header("Refresh")
    assert "3 bulletin(s) prêt(s)" in ready.content.decode()
    pages = pages_of(
        client.get(url(s, "class_bulletins_file", class_id=s["class"].pk, period_id=period.pk))
    )
    # One page per pupil, in class order: Hugo BOUSQUET, Léa MARTIN (the student), Zoé VIDAL.
    assert [p.split("\n")[3] for p in pages] == ["Hugo BOUSQUET", "Léa MARTIN", "Zoé VIDAL"]
    lea, zoe = pages[1], pages[2]
    assert "Mathématiques\n14,61\n12,47\n10,33\n14,61\nTrès bon travail." in lea
    assert "Français\n12,75\n10,37\n8,00\n12,75\n—" in lea
    assert "Moyenne générale : 13,68" in lea and "Félicitations du conseil." in lea
    # Léa's socle commun: the eight components, two with a level; Zoé has none: no section.
    socle = lea[lea.index("Socle commun\n") :]
    assert socle.startswith(
        "Socle commun\nComprendre, s'exprimer en utilisant la langue française à l'oral et à "
        "l'écrit\nTrès bonne maîtrise\n"
    )
    assert "l'activité humaine\nMaîtrise fragile" in socle and socle.count("Non évalué") == 6
    assert "Socle commun" not in zoe
    assert "Mathématiques\n—\n12,47\n10,33\n14,61" in zoe
    assert "Moyenne générale : —" in zoe and "0,00" not in zoe

    # Families: nothing before the period is published, then their own child's only.
    mine = url(s, "bulletin_file", period_id=period.pk)
    summary = url(s, "period_summary", period_id=period.pk)
    client.force_login(s["parent"])
    assert client.get(mine).status_code == 404
    assert "Bulletin (PDF)" not in client.get(summary).content.decode()
    period.published_at = timezone.now()
    period.save()
    with CaptureQueriesContext(connection) as queries:
        shown = client.get(summary).content.decode()
    assert len(queries) <= 10 and f'href="{mine}">Bulletin (PDF)' in shown
    assert pages_of(client.get(mine)) == [lea]
    client.force_login(s["other_parent"])  # asking for Léa gets their own child's
    assert pages_of(client.get(f"{mine}?eleve={s['student'].pk}")) == [pages[0]]
    client.force_login(s["third"])
    assert pages_of(client.get(mine)) == [zoe]

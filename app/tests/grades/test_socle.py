"""The socle commun per period (issue #18 item 5): the class's grid saved in one POST by its
teachers and the direction (another class's teacher and the vie scolaire cannot), a wrong level
anywhere refusing the whole form, pupils and parents reading the levels once the period is
published (the bulletin's section: test_bulletins; bounded queries: test_page_costs)."""

import html

import pytest
from django.utils import timezone

from preau.grades.models import SocleComponent, SocleLevel
from tests.school import url

pytestmark = pytest.mark.django_db

ALL = [c.value for c in SocleComponent]


def grid(s) -> str:
    return url(s, "class_socle", class_id=s["class"].pk, period_id=s["period"].pk)


def levels() -> dict:
    return {(row.student_id, row.component): row.level for row in SocleLevel.objects.all()}


def test_the_class_teacher_saves_the_grid_in_one_post(client, school):
    s = school
    lea, hugo = s["student"], s["other_student"]
    client.force_login(s["teacher"])
    page = client.get(grid(s)).content.decode()
    # make_school's level (Léa, CPD_FRA: 3) is the one selected; 2 pupils x 8 selects.
    assert page.count("<select ") == 16
    assert f'name="socle_{lea.pk}_CPD_FRA"><option value="">Non évalué' in page
    assert '<option value="3" selected>3 – Satisfaisante</option>' in page
    posted = {f"socle_{lea.pk}_{c}": "4" for c in ALL}
    posted[f"socle_{lea.pk}_REP_MND"] = ""  # not assessed: no row
    posted[f"socle_{hugo.pk}_MET_APP"] = "1"
    before = timezone.now()
    response = client.post(grid(s), posted)
    assert response.status_code == 302 and response["Location"] == grid(s)
    assert levels() == {
        **{(lea.pk, c): 4 for c in ALL if c != "REP_MND"},
        (hugo.pk, "MET_APP"): 1,
    }
    assert {(r.author_id, r.updated_at >= before) for r in SocleLevel.objects.all()} == {
        (s["teacher"].pk, True)
    }
    # Emptied again: the row goes; the fields not posted keep their levels.
    assert client.post(grid(s), {f"socle_{hugo.pk}_MET_APP": ""}).status_code == 302
    assert (hugo.pk, "MET_APP") not in levels() and len(levels()) == 7

    # The direction writes it too; the vie scolaire reads it; the link from the class's page.
    client.force_login(s["admin"])
    assert client.post(grid(s), {f"socle_{hugo.pk}_SYS_NAT": "2"}).status_code == 302
    assert levels()[(hugo.pk, "SYS_NAT")] == 2
    client.force_login(s["evs"])
    page = client.get(grid(s)).content.decode()
    assert "<select" not in page and "Maîtrise fragile" in page
    assert client.post(grid(s), {f"socle_{hugo.pk}_SYS_NAT": "4"}).status_code == 403
    client.force_login(s["teacher"])
    classes = client.get(url(s, "class_grades", class_id=s["class"].pk)).content.decode()
    assert f'href="{grid(s)}"' in classes


def test_another_class_teacher_can_neither_read_nor_write_it(client, school):
    s = school
    client.force_login(s["other_teacher"])  # teaches 4A, not 5A
    before = levels()
    assert client.get(grid(s)).status_code == 403
    assert client.post(grid(s), {f"socle_{s['student'].pk}_CPD_FRA": "1"}).status_code == 403
    assert levels() == before


def test_a_wrong_level_anywhere_refuses_the_whole_form(client, school):
    s = school
    lea, hugo = s["student"], s["other_student"]
    client.force_login(s["teacher"])
    before = levels()
    posted = {f"socle_{lea.pk}_{c}": "2" for c in ALL}
    posted[f"socle_{hugo.pk}_CPD_SCI"] = "5"
    response = client.post(grid(s), posted)
    page = html.unescape(response.content.decode())
    assert response.status_code == 400 and levels() == before  # nothing saved, not even Léa's
    assert (
        "Niveau « 5 » refusé pour Hugo BOUSQUET, composante « Comprendre, s'exprimer en "
        "utilisant les langages mathématiques, scientifiques et informatiques » (D1.3)" in page
    )
    assert "Rien n'a été enregistré" in page
    # The wrong cell says so beside it, and only that one.
    cell = f"socle_{hugo.pk}_CPD_SCI"
    assert f'name="{cell}" aria-invalid="true" aria-describedby="{cell}_erreur"' in page
    assert f'<p class="error" id="{cell}_erreur">Niveau « 5 » refusé : 1 à 4 ou Non évalué.' in page
    assert page.count('aria-invalid="true"') == 1
    # The form shows what was typed, for correcting it.
    assert page.count('<option value="2" selected>') == 8


def test_pupils_and_parents_read_the_levels_once_the_period_is_published(client, school):
    s = school
    period = s["period"]
    SocleLevel.objects.create(
        establishment=s["est"], period=period, student=s["student"], component="SYS_NAT", level=1
    )
    summary = url(s, "period_summary", period_id=period.pk)
    for who in ("student", "parent"):
        client.force_login(s[who])
        assert "Socle commun" not in client.get(summary).content.decode()
    period.published_at = timezone.now()
    period.save()
    for who in ("student", "parent"):
        client.force_login(s[who])
        page = html.unescape(client.get(summary).content.decode())
        assert "Socle commun : niveau de maîtrise de chaque composante" in page
        assert (
            "Comprendre, s'exprimer en utilisant la langue française à l'oral et à l'écrit "
            '(D1.1)</th><td data-label="Niveau">Maîtrise satisfaisante' in page
        )
        assert 'systèmes techniques (D4)</th><td data-label="Niveau">Maîtrise insuffisante' in page
        assert page.count("Non évalué") == 6
    # Hugo's parent, even asking for Léa, sees their own child's: Hugo has no level.
    client.force_login(s["other_parent"])
    page = client.get(f"{summary}?eleve={s['student'].pk}").content.decode()
    assert "Hugo" in page and "Socle commun" not in page and "Maîtrise" not in page

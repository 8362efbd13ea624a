"""Cahier de textes authoring (issue #17 item 3): a teacher edits and deletes the sessions they
wrote (and the session's homework), after a confirmation; nobody else does; bad input changes
nothing; each page within 10 SQL queries whatever the class size."""

import datetime as dt

import pytest
from django.utils import timezone

from preau.logbook.models import Homework, LogbookEntry, Submission
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def edit_data(s, **changes) -> dict:
    today = timezone.localdate()
    return {
        "teaching": f"{s['class'].pk}:{s['subject'].pk}",
        "date": today.isoformat(),
        "title": "Les fractions (suite)",
        "content": "Cours corrigé",
        "homework": "Exercices 1 à 6 page 32",
        "due_on": (today + dt.timedelta(days=3)).isoformat(),
        "hand_in": "on",
        **changes,
    }


def test_the_author_edits_a_session_and_its_homework(client, school):
    s = school
    client.force_login(s["teacher"])
    form = client.get(url(s, "logbook_entry_edit", entry_id=s["entry"].pk)).content.decode()
    assert 'value="Les fractions"' in form and "Exercices 1 à 4 page 32" in form
    response = client.post(url(s, "logbook_entry_edit", entry_id=s["entry"].pk), edit_data(s))
    assert response.status_code == 302
    s["entry"].refresh_from_db()
    s["homework"].refresh_from_db()
    assert (s["entry"].title, s["entry"].content) == ("Les fractions (suite)", "Cours corrigé")
    assert s["homework"].description == "Exercices 1 à 6 page 32"
    assert Homework.objects.filter(entry=s["entry"]).count() == 1


def test_bad_input_is_refused_in_french_and_changes_nothing(client, school):
    s = school
    client.force_login(s["teacher"])
    target = url(s, "logbook_entry_edit", entry_id=s["entry"].pk)
    response = client.post(target, edit_data(s, title="", due_on=""))
    assert response.status_code == 400
    body = response.content.decode()
    assert "Indiquez pour quand le travail est à faire." in body
    # Homework handed in (make_school's pupil did) cannot be removed by emptying it.
    assert Submission.objects.filter(homework=s["homework"]).exists()
    response = client.post(target, edit_data(s, homework="", due_on=""))
    assert response.status_code == 400
    assert "Des élèves ont rendu ce travail" in response.content.decode()
    s["entry"].refresh_from_db()
    assert s["entry"].title == "Les fractions"
    assert Homework.objects.get(pk=s["homework"].pk).description == "Exercices 1 à 4 page 32"


def test_delete_asks_for_confirmation_then_removes_session_and_homework(client, school):
    s = school
    client.force_login(s["teacher"])
    target = url(s, "logbook_entry_delete", entry_id=s["entry"].pk)
    page = client.get(target).content.decode()
    assert "Supprimer la séance" in page and "est supprimé avec elle" in page
    assert LogbookEntry.objects.filter(pk=s["entry"].pk).exists()
    assert client.post(target).status_code == 302
    assert not LogbookEntry.objects.filter(pk=s["entry"].pk).exists()
    assert not Homework.objects.filter(pk=s["homework"].pk).exists()


@pytest.mark.parametrize("who", ["other_teacher", "admin", "evs", "student", "parent"])
def test_only_the_author_edits_or_deletes(client, school, who):
    s = school
    client.force_login(s[who])
    for name in ("logbook_entry_edit", "logbook_entry_delete"):
        target = url(s, name, entry_id=s["entry"].pk)
        assert client.get(target).status_code == 403
        assert client.post(target, edit_data(s)).status_code == 403
    assert LogbookEntry.objects.get(pk=s["entry"].pk).title == "Les fractions"


def test_another_establishments_session_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["teacher"])
    for name in ("logbook_entry_edit", "logbook_entry_delete"):
        target = url(s, name, entry_id=other["entry"].pk)
        assert client.get(target).status_code == 404
        assert client.post(target, edit_data(s)).status_code == 404
    assert LogbookEntry.objects.filter(pk=other["entry"].pk).exists()


def test_teacher_logbook_links_only_their_own_sessions(client, school):
    s = school
    mine = url(s, "logbook_entry_edit", entry_id=s["entry"].pk)
    client.force_login(s["teacher"])
    assert mine in client.get(url(s, "logbook_class", class_id=s["class"].pk)).content.decode()
    client.force_login(s["evs"])
    assert mine not in client.get(url(s, "logbook_class", class_id=s["class"].pk)).content.decode()


@pytest.mark.parametrize("name", ["logbook_entry_edit", "logbook_entry_delete"])
def test_authoring_pages_have_bounded_queries(client, school, django_assert_max_num_queries, name):
    s = school
    for n in range(40):  # a big class with hand-ins: the pages do not read them one by one
        pupil = type(s["student"]).objects.create_user(f"eleve{n}")
        Submission.objects.create(homework=s["homework"], student=pupil, file=s["file"])
    client.force_login(s["teacher"])
    with django_assert_max_num_queries(10):
        assert client.get(url(s, name, entry_id=s["entry"].pk)).status_code == 200


def test_a_session_is_copied_to_another_class(client, school):
    s = school
    client.force_login(s["teacher"])
    form = client.get(url(s, "logbook_new") + f"?depuis={s['entry'].pk}").content.decode()
    assert 'value="Les fractions"' in form and "Exercices 1 à 4 page 32" in form
    data = edit_data(s, teaching=f"{s['group'].pk}:{s['subject'].pk}", title="Les fractions")
    assert client.post(url(s, "logbook_new"), data).status_code == 302
    copy = LogbookEntry.objects.get(class_group=s["group"], title="Les fractions")
    assert Homework.objects.get(entry=copy).description == "Exercices 1 à 6 page 32"
    assert LogbookEntry.objects.get(pk=s["entry"].pk).class_group == s["class"]  # kept


def test_only_ones_own_session_is_copied(client, school):
    s = school
    client.force_login(s["other_teacher"])
    assert client.get(url(s, "logbook_new") + f"?depuis={s['entry'].pk}").status_code == 403

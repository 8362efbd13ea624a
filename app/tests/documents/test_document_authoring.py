"""Documents authoring (issue #17 item 3): the author edits a document's title and description,
deletes it after a confirmation page; nobody else does; bad input changes nothing; bounded
queries."""

import pytest

from preau.documents.models import Document
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def test_the_author_edits_then_deletes_a_document(client, school):
    s, item = school, school["document"]
    client.force_login(s["teacher"])
    target = url(s, "document_edit", document_id=item.pk)
    assert 'value="Fiche de cours"' in client.get(target).content.decode()
    posted = {"title": "Fiche de cours corrigée", "description": "Avec les exercices"}
    assert client.post(target, posted).status_code == 302
    item.refresh_from_db()
    assert (item.title, item.description) == ("Fiche de cours corrigée", "Avec les exercices")
    target = url(s, "document_delete", document_id=item.pk)
    assert "Supprimer le document" in client.get(target).content.decode()
    assert Document.objects.filter(pk=item.pk).exists()  # a GET asks, changes nothing
    assert client.post(target).status_code == 302
    assert not Document.objects.filter(pk=item.pk).exists()


def test_bad_input_changes_nothing(client, school):
    s = school
    client.force_login(s["teacher"])
    response = client.post(url(s, "document_edit", document_id=s["document"].pk), {"title": ""})
    assert response.status_code == 400
    assert "Ce champ est obligatoire." in response.content.decode()
    assert Document.objects.get(pk=s["document"].pk).title == "Fiche de cours"


@pytest.mark.parametrize("who", ["other_teacher", "admin", "evs", "student", "parent"])
def test_only_the_author(client, school, who):
    s = school
    client.force_login(s[who])
    for name in ("document_edit", "document_delete"):
        target = url(s, name, document_id=s["document"].pk)
        assert client.get(target).status_code == 403
        assert client.post(target, {"title": "x"}).status_code == 403
    assert Document.objects.get(pk=s["document"].pk).title == "Fiche de cours"


def test_another_establishments_document_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["teacher"])
    for name in ("document_edit", "document_delete"):
        assert client.post(url(s, name, document_id=other["document"].pk)).status_code == 404
    assert Document.objects.filter(pk=other["document"].pk).exists()


@pytest.mark.parametrize("name", ["document_edit", "document_delete"])
def test_document_pages_have_bounded_queries(client, school, django_assert_max_num_queries, name):
    s = school
    client.force_login(s["teacher"])
    with django_assert_max_num_queries(10):
        assert client.get(url(s, name, document_id=s["document"].pk)).status_code == 200

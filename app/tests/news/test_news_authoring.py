"""News authoring (issue #17 item 3): the author, or the direction, edits and deletes a news
item after a confirmation; nobody else does; bad input changes nothing; bounded queries."""

import pytest

from preau.news.models import NewsItem
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def test_the_author_edits_a_news_item(client, school):
    s = school
    item = NewsItem.objects.create(
        establishment=s["est"], title="Cross", body="Au stade", author=s["evs"]
    )
    client.force_login(s["evs"])
    target = url(s, "news_edit", news_id=item.pk)
    assert 'value="Cross"' in client.get(target).content.decode()
    response = client.post(
        target, {"title": "Cross du collège", "body": "Au stade", "audience": ["ELV"]}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.audience) == ("Cross du collège", ["ELV"])


def test_the_direction_edits_any_news_item_and_deletes_after_confirmation(client, school):
    s = school
    item = NewsItem.objects.create(
        establishment=s["est"], title="Cross", body="Au stade", author=s["evs"]
    )
    client.force_login(s["admin"])
    target = url(s, "news_delete", news_id=item.pk)
    page = client.get(target).content.decode()
    assert (
        "Supprimer l&#39;actualité « Cross »" in page or "Supprimer l'actualité « Cross »" in page
    )
    assert NewsItem.objects.filter(pk=item.pk).exists()
    assert client.post(target).status_code == 302
    assert not NewsItem.objects.filter(pk=item.pk).exists()


def test_bad_input_changes_nothing(client, school):
    s = school
    client.force_login(s["admin"])
    response = client.post(url(s, "news_edit", news_id=s["news"].pk), {"title": "", "body": "x"})
    assert response.status_code == 400
    assert "Ce champ est obligatoire." in response.content.decode()
    assert NewsItem.objects.get(pk=s["news"].pk).body == "Au musée"


@pytest.mark.parametrize("who", ["evs", "teacher", "student", "parent", "agent"])
def test_others_cannot_edit_or_delete(client, school, who):
    s = school
    client.force_login(s[who])
    for name in ("news_edit", "news_delete"):
        target = url(s, name, news_id=s["news"].pk)
        assert client.get(target).status_code == 403
        assert client.post(target, {"title": "x", "body": "y"}).status_code == 403
    assert NewsItem.objects.get(pk=s["news"].pk).title == s["news"].title


def test_another_establishments_news_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["admin"])
    for name in ("news_edit", "news_delete"):
        assert client.post(url(s, name, news_id=other["news"].pk)).status_code == 404
    assert NewsItem.objects.filter(pk=other["news"].pk).exists()


@pytest.mark.parametrize("name", ["news_edit", "news_delete"])
def test_news_authoring_pages_have_bounded_queries(
    client, school, django_assert_max_num_queries, name
):
    s = school
    client.force_login(s["admin"])
    with django_assert_max_num_queries(10):
        assert client.get(url(s, name, news_id=s["news"].pk)).status_code == 200

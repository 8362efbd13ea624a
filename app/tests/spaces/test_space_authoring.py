"""Spaces' posts (issue #17 item 3): the author edits and deletes their post after a
confirmation page; the space's managers (the class's teachers, the vie scolaire, the direction)
delete any post of their space; nobody else does; bad input changes nothing; bounded queries."""

import pytest

from preau.spaces.models import SpacePost
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return " ".join(response.content.decode().replace("&#39;", "'").split())


def reply(s, author, body="Je propose le théâtre"):
    return SpacePost.objects.create(
        establishment=s["est"],
        class_group=s["class"],
        thread=s["post"],
        author=s[author],
        body=body,
    )


def test_the_author_edits_a_reply_and_a_thread(client, school):
    s = school
    mine = reply(s, "student")
    client.force_login(s["student"])
    page = text(client.get(url(s, "space_thread", post_id=s["post"].pk)))
    target = url(s, "space_post_edit", post_id=mine.pk)
    assert target in page and url(s, "space_post_edit", post_id=s["post"].pk) not in page
    assert "Je propose le théâtre" in text(client.get(target))
    response = client.post(target, {"body": "Je propose la danse"})
    assert response.status_code == 302
    assert response.url == url(s, "space_thread", post_id=s["post"].pk)
    assert SpacePost.objects.get(pk=mine.pk).body == "Je propose la danse"
    client.force_login(s["teacher"])
    client.post(url(s, "space_post_edit", post_id=s["post"].pk), {"title": "Projet", "body": "!"})
    assert SpacePost.objects.get(pk=s["post"].pk).body == "!"


def test_the_author_deletes_a_reply_after_confirmation(client, school):
    s = school
    mine = reply(s, "student")
    client.force_login(s["student"])
    target = url(s, "space_post_delete", post_id=mine.pk)
    page = text(client.get(target))
    assert "Supprimer le message du " in page and "dans la discussion « Projet » ?" in page
    assert SpacePost.objects.filter(pk=mine.pk).exists()
    assert client.post(target).status_code == 302
    assert not SpacePost.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize("manager", ["teacher", "evs", "admin"])
def test_the_space_s_managers_delete_any_post(client, school, manager):
    s = school
    other = reply(s, "other_student")
    client.force_login(s[manager])
    assert client.get(url(s, "space_post_edit", post_id=other.pk)).status_code == 403
    assert client.post(url(s, "space_post_delete", post_id=other.pk)).status_code == 302
    assert not SpacePost.objects.filter(pk=other.pk).exists()


def test_deleting_a_thread_says_its_replies_go_with_it(client, school):
    s = school
    reply(s, "student")
    client.force_login(s["admin"])
    target = url(s, "space_post_delete", post_id=s["post"].pk)
    assert "Supprimer la discussion « Projet » du " in text(client.get(target))
    assert "et ses 1 réponse(s) ?" in text(client.get(target))
    response = client.post(target)
    assert response.url == url(s, "space", class_id=s["class"].pk)
    assert not SpacePost.objects.filter(establishment=s["est"]).exists()


@pytest.mark.parametrize("who", ["student", "other_student", "other_teacher", "parent", "agent"])
def test_others_cannot_edit_or_delete(client, school, who):
    s = school
    theirs = reply(s, "teacher", "Consigne")
    client.force_login(s[who])
    for name in ("space_post_edit", "space_post_delete"):
        target = url(s, name, post_id=theirs.pk)
        assert client.get(target).status_code == 403
        assert client.post(target, {"body": "piraté"}).status_code == 403
    assert SpacePost.objects.get(pk=theirs.pk).body == "Consigne"


def test_bad_input_changes_nothing(client, school):
    s = school
    client.force_login(s["teacher"])
    response = client.post(
        url(s, "space_post_edit", post_id=s["post"].pk), {"title": "", "body": ""}
    )
    assert response.status_code == 400
    assert "Ce champ est obligatoire." in text(response)
    assert SpacePost.objects.get(pk=s["post"].pk).body == "Idées ?"


def test_another_establishments_post_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["admin"])
    for name in ("space_post_edit", "space_post_delete"):
        assert client.post(url(s, name, post_id=other["post"].pk)).status_code == 404
    assert SpacePost.objects.filter(pk=other["post"].pk).exists()

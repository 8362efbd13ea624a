"""A conversation deleted for oneself (issue #17 item 3): after a confirmation page it leaves
the user's inbox only; the other participants keep it; a new message brings it back; nobody
outside the conversation reaches the page; bounded queries."""

import pytest

from preau.messaging.models import Message
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def inbox(client, s) -> str:
    return client.get(url(s, "messages")).content.decode()


def test_deleted_for_oneself_until_a_new_message(client, school):
    s, item = school, school["conversation"]
    target = url(s, "conversation_hide", conversation_id=item.pk)
    client.force_login(s["student"])
    assert "Supprimer pour moi" in client.get(target).content.decode()
    assert item.subject in inbox(client, s)  # a GET asks, changes nothing
    assert client.post(target).status_code == 302
    assert item.subject not in inbox(client, s)
    client.force_login(s["teacher"])
    assert item.subject in inbox(client, s)  # the others keep it
    reply = url(s, "conversation", conversation_id=item.pk)
    assert client.post(reply, {"body": "Avez-vous compris ?"}).status_code == 302
    client.force_login(s["student"])
    assert item.subject in inbox(client, s)  # back with the new message
    assert Message.objects.filter(conversation=item).count() >= 2


@pytest.mark.parametrize("who", ["other_student", "parent", "evs", "admin"])
def test_outsiders_do_not_reach_it(client, school, who):
    s = school
    client.force_login(s[who])
    target = url(s, "conversation_hide", conversation_id=s["conversation"].pk)
    assert client.get(target).status_code == 404
    assert client.post(target).status_code == 404


def test_another_establishments_conversation_is_not_found(client, school):
    s, other = school, make_school("B", "0820010R")
    client.force_login(s["student"])
    target = url(s, "conversation_hide", conversation_id=other["conversation"].pk)
    assert client.post(target).status_code == 404


def test_hide_page_has_bounded_queries(client, school, django_assert_max_num_queries):
    s = school
    client.force_login(s["student"])
    with django_assert_max_num_queries(10):
        target = url(s, "conversation_hide", conversation_id=s["conversation"].pk)
        assert client.get(target).status_code == 200

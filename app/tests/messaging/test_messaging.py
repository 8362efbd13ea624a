"""Messagerie: the communication rules, replies, attachments, unread counts."""

import pytest

from preau.ent.models import Notification
from preau.messaging.models import Conversation, Message
from tests.school import upload, url


def _compose(client, s, recipients, subject="Sujet"):
    return client.post(
        url(s, "message_new"),
        {"recipients": [str(u.pk) for u in recipients], "subject": subject, "body": "Bonjour"},
    )


@pytest.mark.parametrize(
    "sender, recipient, allowed",
    [
        ("student", "teacher", True),
        ("student", "evs", True),
        ("student", "other_parent", False),
        ("student", "other_student", False),
        ("student", "admin", False),
        ("student", "other_teacher", False),
        ("parent", "teacher", True),
        ("parent", "admin", True),
        ("parent", "evs", True),
        ("parent", "other_teacher", False),
        ("parent", "other_parent", False),
        ("parent", "other_student", False),
        ("teacher", "other_parent", True),
        ("agent", "student", True),
        ("evs", "parent", True),
    ],
)
def test_communication_rules(client, school, sender, recipient, allowed):
    s = school
    client.force_login(s[sender])
    form = client.get(url(s, "message_new")).content.decode()
    assert (f'value="{s[recipient].pk}"' in form) == allowed
    response = _compose(client, s, [s[recipient]], subject="Règles")
    assert (response.status_code == 302) == allowed
    assert Conversation.objects.filter(subject="Règles").exists() == allowed


def test_conversation_reply_attachment_and_unread(client, school):
    s = school
    client.force_login(s["parent"])
    response = client.post(
        url(s, "message_new"),
        {
            "recipients": [str(s["teacher"].pk)],
            "subject": "Sortie",
            "body": "Mon fils sera absent",
            "attachment": upload("mot.pdf"),
        },
    )
    conversation = Conversation.objects.get(subject="Sortie")
    assert (
        response.status_code == 302
        and Message.objects.get(conversation=conversation).attachment.name == "mot.pdf"
    )
    client.force_login(s["teacher"])
    assert "Non lu" in client.get(url(s, "messages")).content.decode()
    page = client.get(url(s, "conversation", conversation_id=conversation.pk)).content.decode()
    assert "Mon fils sera absent" in page and "mot.pdf" in page
    assert "Non lu" not in client.get(url(s, "messages")).content.decode().split("Sortie")[0][-200:]
    attachment = Message.objects.get(conversation=conversation).attachment
    assert client.get(url(s, "file_download", file_id=attachment.pk)).status_code == 200
    assert (
        client.post(
            url(s, "conversation", conversation_id=conversation.pk), {"body": "Bien noté"}
        ).status_code
        == 302
    )
    assert Notification.objects.filter(user=s["parent"], text__contains="Sortie").exists()
    client.force_login(s["evs"])  # not a participant
    assert client.get(url(s, "conversation", conversation_id=conversation.pk)).status_code == 404
    # A private attachment is read by the conversation's participants only (issue #16).
    assert client.get(url(s, "file_download", file_id=attachment.pk)).status_code == 403
    client.force_login(s["other_parent"])
    assert client.get(url(s, "file_download", file_id=attachment.pk)).status_code == 403

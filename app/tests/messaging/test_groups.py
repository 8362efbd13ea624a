"""Messages to groups (issue #19 item 3): who may write to which group, per profile; a
recipient never sees the others and replies to the sender alone; « lu par n / N » for the sender
only; a reported message hidden by the vie scolaire (audited); large groups through a job; one
establishment's groups and moderation never reach another's."""

import re

import pytest
from django.db import connection

from preau.core.models import ClassMembership, Membership, OperationLog, ParentLink, User
from preau.ent.models import Notification
from preau.messaging import groups
from preau.messaging.models import Broadcast, Conversation, Message, Participant, Report
from tests.school import make_school, url

pytestmark = pytest.mark.django_db


def offered(client, s) -> set[str]:
    """The groups' labels the compose page offers."""
    page = client.get(url(s, "message_new")).content.decode()
    return set(re.findall(r'name="groups" value="[^"]+"[^>]*>\s*<label[^>]*>([^<]+)</label>', page))


WIDE = {"Les enseignants", "La vie scolaire"}
EVERY_CLASS = {
    f"{kind} de la {name}"
    for kind in ("Parents", "Élèves", "Équipe pédagogique")
    for name in ("5A", "4A")
}


# Who may write to which group (groups.offered), as the compose page offers them.
OFFERED = {
    "admin": EVERY_CLASS | WIDE,
    "evs": EVERY_CLASS | WIDE,
    # 5A only: the latin group is no class; 4A is another teacher's.
    "teacher": {"Parents de la 5A", "Élèves de la 5A", "Équipe pédagogique de la 5A"} | WIDE,
    "agent": WIDE,
    # Never parents, never pupils, never every teacher: their class's team, the vie scolaire.
    "student": {"Équipe pédagogique de la 5A", "La vie scolaire"},
    "parent": {"Équipe pédagogique de la 5A", "La vie scolaire"},
}


def test_groups_offered_per_profile(client, school):
    got = {}
    for role in OFFERED:
        client.force_login(school[role])
        got[role] = offered(client, school)
    assert got == OFFERED


def send(client, s, keys, subject="Sortie au musée", body="Départ à 8 h devant le collège"):
    return client.post(url(s, "message_new"), {"groups": keys, "subject": subject, "body": body})


# Groups a profile may not address, posted anyway.
REFUSED = [
    ("student", "parents-{class}"),
    ("student", "eleves-{class}"),
    ("student", "enseignants"),
    ("parent", "parents-{class}"),
    ("teacher", "parents-{other_class}"),  # a class they do not teach
    ("agent", "parents-{class}"),
]


def test_a_group_not_offered_is_refused_and_nothing_is_sent(client, school):
    s = school
    for role, key in REFUSED:
        client.force_login(s[role])
        response = send(client, s, [key.format(**{k: s[k].pk for k in ("class", "other_class")})])
        assert response.status_code == 400, (role, key)
    assert not Broadcast.objects.filter(subject="Sortie au musée").exists()
    assert not Conversation.objects.filter(subject="Sortie au musée").exists()


def test_no_recipient_nor_group_nor_anybody_in_it_says_so(client, school):
    client.force_login(school["teacher"])
    response = send(client, school, [])
    assert response.status_code == 400
    assert "Choisissez au moins un destinataire ou un groupe." in response.content.decode()
    # 4A has no pupil: its parents are nobody, and nothing is kept.
    client.force_login(school["admin"])
    response = send(client, school, [f"parents-{school['other_class'].pk}"])
    assert response.status_code == 400
    assert "Ces groupes ne comptent personne à qui écrire." in response.content.decode()
    assert not Broadcast.objects.filter(subject="Sortie au musée").exists()


def test_parents_of_a_class_each_alone_with_the_sender(client, school):
    s = school
    client.force_login(s["teacher"])
    response = send(client, s, [f"parents-{s['class'].pk}"])
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    assert response.status_code == 302 and response["Location"] == url(
        s, "broadcast", broadcast_id=broadcast.pk
    )
    assert broadcast.recipients == 2 and broadcast.label == "Parents de la 5A"
    # One conversation per parent, the sender and that parent alone in it.
    mine = {
        c.pk: {p.user_id for p in c.participants.all()}
        for c in Conversation.objects.filter(broadcast=broadcast)
    }
    assert sorted(map(sorted, mine.values())) == sorted(
        sorted({s["teacher"].pk, s[who].pk}) for who in ("parent", "other_parent")
    )
    # The sender's inbox lists the group message, not 2 conversations without replies.
    inbox = client.get(url(s, "messages")).content.decode()
    assert inbox.count("Sortie au musée") == 1 and "Vos derniers messages de groupe" in inbox
    page = client.get(url(s, "broadcast", broadcast_id=broadcast.pk)).content.decode()
    assert re.search(r"Lu par <strong>0</strong> / 2", page)

    # The parent reads it: no other parent's name anywhere on the page.
    client.force_login(s["parent"])
    assert "Sortie au musée" in client.get(url(s, "messages")).content.decode()
    own = Conversation.objects.get(broadcast=broadcast, participants__user=s["parent"])
    page = client.get(url(s, "conversation", conversation_id=own.pk)).content.decode()
    assert "Départ à 8 h" in page and "FABRE" in page
    assert "Karim" not in page and "BOUSQUET" not in page
    assert client.get(url(s, "broadcast", broadcast_id=broadcast.pk)).status_code == 404

    # The reply goes to the sender alone.
    notified = Notification.objects.filter(text__contains="Sortie au musée")
    before = set(notified.values_list("user_id", flat=True))
    reply = url(s, "conversation", conversation_id=own.pk)
    assert client.post(reply, {"body": "Ma fille sera là"}).status_code == 302
    assert set(notified.values_list("user_id", flat=True)) - before == {s["teacher"].pk}
    theirs = Conversation.objects.get(broadcast=broadcast, participants__user=s["other_parent"])
    assert not Message.objects.filter(conversation=theirs, body="Ma fille sera là").exists()
    client.force_login(s["other_parent"])
    page = client.get(url(s, "conversation", conversation_id=theirs.pk)).content.decode()
    assert "Ma fille sera là" not in page and "Sophie" not in page

    # The sender: « lu par 2 / 2 », who read it (for their eyes only), the reply in the inbox.
    client.force_login(s["teacher"])
    page = client.get(url(s, "broadcast", broadcast_id=broadcast.pk)).content.decode()
    assert re.search(r"Lu par <strong>2</strong> / 2", page)
    assert "Sophie MARTIN" in page and "Karim BOUSQUET" in page and "Voir sa réponse" in page
    inbox = client.get(url(s, "messages")).content.decode()
    assert inbox.count("Sortie au musée") == 2  # the group message and the reply's conversation


def test_each_recipient_is_notified_with_a_link_to_their_own_conversation(client, school, settings):
    """The notification and its e-mail open the recipient's own conversation, not the inbox
    (where a parent would have to find it among the others)."""
    from django.core import mail

    from preau.ent import notify

    s = school
    settings.PREAU_EMAIL_NOTIFICATIONS = True
    settings.PREAU_SITE_URL = "https://ent.example.fr"
    s["est"].settings = {"email_notifications": True}
    s["est"].save()
    User.objects.filter(pk=s["parent"].pk).update(email="sophie.martin@example.org")
    client.force_login(s["teacher"])
    assert send(client, s, [f"parents-{s['class'].pk}"]).status_code == 302
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    notes = Notification.objects.filter(text__contains="Sortie au musée")
    links = dict(notes.values_list("user_id", "url"))
    for who in ("parent", "other_parent"):
        own = Conversation.objects.get(broadcast=broadcast, participants__user=s[who])
        assert links[s[who].pk] == url(s, "conversation", conversation_id=own.pk), who
        client.force_login(s[who])
        assert "Départ à 8 h" in client.get(links[s[who].pk]).content.decode()
    # The e-mail (sent by the job: its work here) carries the same link.
    assert notify.send_emails(s["est"], list(notes)) == 1
    own = links[s["parent"].pk]
    assert mail.outbox[-1].to == ["sophie.martin@example.org"]
    assert f"https://ent.example.fr{own}" in mail.outbox[-1].body


def test_receipts_count_the_recipients_who_opened_it(client, school):
    s = school
    client.force_login(s["evs"])
    assert send(client, s, [f"eleves-{s['class'].pk}", "enseignants"]).status_code == 302
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    # 5A's two pupils and the two teachers (the vie scolaire sends, it is not a recipient).
    assert broadcast.recipients == 4
    assert len(groups.receipts(broadcast)) == 0
    client.force_login(s["student"])
    own = Conversation.objects.get(broadcast=broadcast, participants__user=s["student"])
    client.get(url(s, "conversation", conversation_id=own.pk))
    client.get(url(s, "conversation", conversation_id=own.pk))  # twice: still one reader
    assert [p.user for p in groups.receipts(broadcast)] == [s["student"]]


def test_report_then_hidden_by_the_vie_scolaire(client, school):
    s = school
    client.force_login(s["teacher"])
    assert send(client, s, [f"eleves-{s['class'].pk}"], body="Propos à masquer").status_code == 302
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    own = Conversation.objects.get(broadcast=broadcast, participants__user=s["student"])
    message = Message.objects.get(conversation=own)

    client.force_login(s["student"])
    page = client.get(url(s, "conversation", conversation_id=own.pk)).content.decode()
    report = url(s, "message_report", message_id=message.pk)
    assert report in page
    assert client.post(report, {"reason": ""}).status_code == 400  # a reason is required
    assert client.post(report, {"reason": "Ce message me met mal à l'aise"}).status_code == 302
    assert Notification.objects.filter(user=s["evs"], text__contains="signalé").exists()
    # Nobody reports their own message.
    client.force_login(s["teacher"])
    assert client.get(report).status_code == 404

    client.force_login(s["evs"])
    page = client.get(url(s, "moderation")).content.decode()
    assert "Propos à masquer" in page and "Ce message me met mal à l&#39;aise" in page
    opened = Report.objects.get(message=message)
    resolve = url(s, "report_resolve", report_id=opened.pk)
    assert client.post(resolve, {"action": "hide"}).status_code == 302
    assert "Propos à masquer" not in client.get(url(s, "moderation")).content.decode()
    opened.refresh_from_db()
    assert opened.outcome == "hidden" and opened.resolved_by == s["evs"]
    log = OperationLog.objects.get(kind="message_hidden")
    assert log.summary["message_id"] == message.pk and log.summary["by"] == s["evs"].username
    # Kept for the record, masked for every recipient of the group message.
    assert Message.objects.filter(pk=message.pk).exists()
    for who in ("student", "other_student"):
        client.force_login(s[who])
        conversation = Conversation.objects.get(broadcast=broadcast, participants__user=s[who])
        page = client.get(url(s, "conversation", conversation_id=conversation.pk)).content.decode()
        assert "Message masqué par la vie scolaire" in page and "Propos à masquer" not in page


def test_a_dismissed_report_leaves_the_message(client, school):
    s = school
    client.force_login(s["admin"])
    resolve = url(s, "report_resolve", report_id=s["report"].pk)
    assert client.get(resolve).status_code == 405
    assert client.post(resolve, {"action": "dismiss"}).status_code == 302
    s["report"].refresh_from_db()
    assert s["report"].outcome == "dismissed"
    assert OperationLog.objects.filter(kind="report_dismissed").exists()
    assert Message.objects.get(pk=s["message"].pk).hidden_at is None
    assert client.post(resolve, {"action": "hide"}).status_code == 404  # already dealt with


def test_a_teacher_does_not_moderate(client, school):
    s = school
    client.force_login(s["teacher"])
    assert client.get(url(s, "moderation")).status_code == 403
    resolve = url(s, "report_resolve", report_id=s["report"].pk)
    assert client.post(resolve, {"action": "hide"}).status_code == 403
    assert Message.objects.get(pk=s["message"].pk).hidden_at is None


def test_groups_and_moderation_stay_in_their_establishment(client, school):
    a, b = school, make_school("B", "0820010R")
    # B's people tied to A's class by data of B (a B parent link to A's pupil, a B pupil in
    # A's class): no group of A reaches them, nor B's teachers and vie scolaire.
    ParentLink.objects.create(establishment=b["est"], parent=b["parent"], child=a["student"])
    ClassMembership.objects.create(class_group=a["class"], user=b["student"])
    keys = [f"{kind}-{a['class'].pk}" for kind in groups.CLASS_KINDS] + list(groups.WIDE_KINDS)
    everyone = set(groups.members(a["est"].pk, keys).values_list("pk", flat=True))
    assert everyone and not everyone & set(
        Membership.objects.filter(establishment=b["est"]).values_list("user_id", flat=True)
    )
    # A's direction cannot address B's class, nor moderate B's reports.
    client.force_login(a["admin"])
    assert send(client, a, [f"parents-{b['class'].pk}"]).status_code == 400
    assert client.get(url(b, "moderation")).status_code in (403, 404)
    resolve = url(a, "report_resolve", report_id=b["report"].pk)
    assert client.post(resolve, {"action": "hide"}).status_code == 404
    assert Message.objects.get(pk=b["message"].pk).hidden_at is None


def test_a_large_group_goes_through_a_job(
    client, school, monkeypatch, django_assert_max_num_queries
):
    s = school
    # 20 more pupils of 5A, each with a parent (bulk: the test's data stays cheap).
    est = s["est"]
    users = User.objects.bulk_create(
        [User(username=f"famille{i}", first_name=f"P{i}", last_name="FAMILLE") for i in range(40)]
    )
    pupils, parents = users[:20], users[20:]
    Membership.objects.bulk_create(
        [Membership(user=u, establishment=est, profile="ELV") for u in pupils]
        + [Membership(user=u, establishment=est, profile="TUT") for u in parents]
    )
    ClassMembership.objects.bulk_create(
        [ClassMembership(class_group=s["class"], user=u) for u in pupils]
    )
    ParentLink.objects.bulk_create(
        [
            ParentLink(establishment=est, parent=p, child=c)
            for p, c in zip(parents, pupils, strict=True)
        ]
    )
    monkeypatch.setattr(groups, "LARGE", 10)
    client.force_login(s["teacher"])
    response = send(client, s, [f"parents-{s['class'].pk}"])
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    assert response.status_code == 302 and broadcast.delivered_at is None
    assert not Conversation.objects.filter(broadcast=broadcast).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, args->>'broadcast_id' FROM procrastinate_jobs WHERE id = %s",
            [broadcast.job_id],
        )
        assert cursor.fetchone() == ("send_group_message", str(broadcast.pk))
    page = client.get(url(s, "broadcast", broadcast_id=broadcast.pk))
    assert "Envoi en cours à 22 personnes" in page.content.decode() and page["Refresh"]
    # The job's work: a few bulk statements whatever the number of recipients.
    with django_assert_max_num_queries(12):
        assert groups.deliver(broadcast.pk) == {"recipients": 22, "already": False}
    assert Participant.objects.filter(conversation__broadcast=broadcast).count() == 44
    assert groups.deliver(broadcast.pk)["already"]  # a job run again sends nothing twice
    assert Message.objects.filter(conversation__broadcast=broadcast).count() == 22
    page = client.get(url(s, "broadcast", broadcast_id=broadcast.pk)).content.decode()
    assert re.search(r"Lu par <strong>0</strong> / 22", page)


def test_a_hidden_messages_attachment_is_no_longer_served(client, school):
    from preau.ent import files
    from tests.school import upload

    s = school
    stored = files.store(s["est"], upload("tract.pdf"), s["student"])
    message = Message.objects.create(
        conversation=s["conversation"], author=s["student"], body="Voir pièce", attachment=stored
    )
    report = Report.objects.create(
        establishment=s["est"], message=message, reporter=s["teacher"], reason="Tract"
    )
    download = url(s, "file_download", file_id=stored.pk)
    client.force_login(s["teacher"])
    assert client.get(download).status_code == 200
    client.force_login(s["evs"])
    resolve = url(s, "report_resolve", report_id=report.pk)
    assert client.post(resolve, {"action": "hide"}).status_code == 302
    client.force_login(s["teacher"])
    assert client.get(download).status_code == 403
    page = client.get(url(s, "conversation", conversation_id=s["conversation"].pk)).content
    assert (
        "tract.pdf" not in page.decode() and "Message masqué par la vie scolaire" in page.decode()
    )


def test_a_group_message_waiting_for_its_job_follows_a_merge(client, monkeypatch):
    """Enqueued in B, B then merged into A, delivered by its job after: the parents of B's class
    (a class of A now, same id) and the pupil chosen one by one, whose account was folded into
    A's (same INE), receive it; its sender's page, at A's address, shows the job's state."""
    from preau.core.merge import merge
    from preau.jobs import tasks

    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    User.objects.filter(pk__in=[a["student"].pk, b["student"].pk]).update(ine="123456789AB")
    monkeypatch.setattr(groups, "LARGE", 0)  # through the job, whatever the size
    client.force_login(b["teacher"])
    response = client.post(
        url(b, "message_new"),
        {
            "groups": [f"parents-{b['class'].pk}"],
            "recipients": [b["student"].pk],
            "subject": "Sortie au musée",
            "body": "Départ à 8 h",
        },
    )
    broadcast = Broadcast.objects.get(subject="Sortie au musée")
    assert response.status_code == 302 and broadcast.delivered_at is None
    report = merge("0820010R", "0820021C")
    assert report["merged_accounts"] == [
        {"kept": "studenta", "absorbed": "studentb", "ine": "123456789AB"}
    ]
    page = client.get(url(a, "broadcast", broadcast_id=broadcast.pk)).content.decode()
    assert "Envoi en cours à 3 personnes (tâche en attente)" in page

    assert tasks.send_group_message(broadcast.pk, establishment_uai="0820010R")["recipients"] == 4
    reached = set(
        Participant.objects.filter(conversation__broadcast=broadcast)
        .exclude(user=b["teacher"])
        .values_list("user__username", flat=True)
    )
    # 5B's guardians, and A's parent: their child, B's pupil's kept account, is now in 5B.
    assert reached == {"parentb", "otherparentb", "parenta", "studenta"}
    assert set(
        Conversation.objects.filter(broadcast=broadcast).values_list(
            "establishment__uai", flat=True
        )
    ) == {"0820021C"}


def test_moderators_read_the_reported_message_in_its_context(
    client, school, django_assert_max_num_queries
):
    """The moderation page shows the conversation's 3 messages (views.CONTEXT) on each side of the
    reported one, masked ones masked, nothing further; another establishment's moderators
    see none of it."""
    import datetime as dt

    from django.utils import timezone

    s = school
    conversation = Conversation.objects.create(
        establishment=s["est"], subject="Devoir de français", created_by=s["teacher"]
    )
    for user in (s["student"], s["teacher"]):
        Participant.objects.create(conversation=conversation, user=user)
    start = timezone.now() - dt.timedelta(hours=1)
    thread = [
        Message.objects.create(
            conversation=conversation,
            author=s["student"] if n % 2 else s["teacher"],
            body=f"Message n°{n}",
            sent_at=start + dt.timedelta(minutes=n),
        )
        for n in range(1, 10)
    ]
    Message.objects.filter(pk=thread[2].pk).update(
        body="Propos déjà masqué", hidden_at=timezone.now(), hidden_by=s["evs"]
    )
    Report.objects.create(
        establishment=s["est"], message=thread[4], reporter=s["student"], reason="Blessant"
    )
    client.force_login(s["evs"])
    # The session, the membership, the open reports, their conversations' order, the context:
    # the same whatever the number of reports (two here).
    with django_assert_max_num_queries(5):
        page = client.get(url(s, "moderation")).content.decode()
    card = page[page.index("Devoir de français") :]  # the last report's card
    shown = re.findall(r"Message n°(\d)", card)
    assert shown == ["2", "4", "5", "6", "7", "8"]  # n°3 masked, n°1 and n°9 too far
    assert "Message masqué par la vie scolaire" in card and "Propos déjà masqué" not in page
    assert "message signalé" in card
    # The first report, alone in its conversation, shows its message only.
    assert "Bonjour" in page

    b = make_school("B", "0820010R")
    client.force_login(b["evs"])
    page = client.get(url(b, "moderation")).content.decode()
    assert "Message n°" not in page and "Devoir de français" not in page


def test_the_inbox_reads_the_sender_s_group_messages_once_and_again_after_a_send(
    client, school, settings
):
    """The inbox's « Vos derniers messages de groupe » is kept with the user's cached parts
    (ent.cache): no query for it on the next views, and the user's own send shows at once."""
    from django.core.cache import cache
    from django.test.utils import CaptureQueriesContext

    s = school
    settings.PREAU_USER_CACHE_SECONDS = 30
    cache.clear()
    client.force_login(s["teacher"])
    inbox = url(s, "messages")

    def broadcast_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(inbox).status_code == 200
        return sum('"messaging_broadcast"' in q["sql"] for q in ctx.captured_queries)

    assert broadcast_queries() == 1
    assert broadcast_queries() == 0
    assert send(client, s, [f"parents-{s['class'].pk}"]).status_code == 302
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(inbox).content.decode()
    assert "Sortie au musée" in page
    assert sum('"messaging_broadcast"' in q["sql"] for q in ctx.captured_queries) == 1

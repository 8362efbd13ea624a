"""Messages to groups (issue #19 item 3): which groups a member may write to, per profile, and
who a group is when the message is delivered, always inside one establishment.

The groups, as Pronote and Skolengo offer them: per class of this school year « Parents de la
5A » (the legal guardians of its current pupils), « Élèves de la 5A », « Équipe pédagogique de
la 5A » (the teachers assigned to it); and « Les enseignants », « La vie scolaire ».

Who may use which (`offered`), from the relations the individual rules read (`Viewer` and
`allowed_recipients` in preau.ent.access, the one owner of who is related to whom), so that a
group never reaches someone its sender could not write to alone:
- the direction and the vie scolaire: the three groups of every class, the teachers, the vie
  scolaire;
- a teacher: the three groups of the classes they teach, the teachers, the vie scolaire;
- other staff (ETA): the teachers, the vie scolaire;
- a pupil: the teaching team of their class and the vie scolaire (never parents, never pupils);
- a parent: the teaching team of each child's class and the vie scolaire.

A group message is one `Broadcast` (what was written, to which groups, how many it reached)
delivered as **one conversation per recipient**, between the sender and that recipient alone.
Why not one conversation holding everyone: its participants list, its replies and its unread
state would be shared, so a parent would learn the other parents' names, read their replies, or
see it "unread" after another parent's reply; filtering all of that per reader is where leaks
come from. Separate conversations make privacy structural: a recipient's conversation holds no
one else, a reply goes to the sender alone (the conversation's only other participant), and the
read receipts are the recipients' own `last_read_at` (`receipts`). The sender's inbox leaves out
these conversations until the recipient replies; the broadcast's page (`messaging.views.
broadcast`) shows « lu par n / N » and the replies.

Delivery is a few bulk inserts whatever the size (`deliver`); above LARGE recipients it runs in
a job (`send_group_message`, jobs/tasks.py) and the sender reads « envoi en cours ».
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Membership,
    ParentLink,
    TeachingAssignment,
    User,
)
from preau.ent.access import viewer
from preau.ent.notify import notify
from preau.messaging.models import Broadcast, Conversation, Message, Participant

# Above this many recipients, a job delivers the message (the page says « envoi en cours »).
LARGE = 200
BATCH = 500

# Kinds of group per class, with their label; then the establishment-wide ones.
CLASS_KINDS = {
    "parents": "Parents de la {}",
    "eleves": "Élèves de la {}",
    "equipe": "Équipe pédagogique de la {}",
}
WIDE_KINDS = {"enseignants": "Les enseignants", "vie-scolaire": "La vie scolaire"}
# How the compose page folds the class groups (one <details> per kind).
FOLDS = {
    "parents": "Parents d'une classe",
    "eleves": "Élèves d'une classe",
    "equipe": "Équipe pédagogique d'une classe",
}


class Nobody(Exception):
    """The groups chosen hold nobody to write to (an empty class…): nothing is sent."""


@dataclass(frozen=True)
class Group:
    key: str  # as posted: "parents-12", "enseignants"
    kind: str
    label: str


def _class_groups(kinds, classes) -> list[Group]:
    return [
        Group(f"{kind}-{c.pk}", kind, CLASS_KINDS[kind].format(c.name))
        for kind in kinds
        for c in classes
    ]


def offered(request) -> list[Group]:
    """The groups this member may write to (module docstring), class groups by name."""
    me = viewer(request)
    classes = ClassGroup.objects.for_request(request).filter(
        kind=ClassGroup.Kind.CLASS, school_year=me.year
    )
    wide = [Group(kind, kind, label) for kind, label in WIDE_KINDS.items()]
    if me.is_supervisor:
        return _class_groups(CLASS_KINDS, classes.order_by("name")) + wide
    if me.profile == "ENS":
        taught = classes.filter(pk__in=me.taught_class_ids()).order_by("name")
        return _class_groups(CLASS_KINDS, taught) + wide
    if me.is_staff:
        return wide
    own = classes.filter(pk__in=me.own_class_ids()).order_by("name")
    return _class_groups(["equipe"], own) + [wide[1]]


def members(establishment_id: int, keys: list[str]):
    """Who these groups are now: active users with a current membership of this establishment
    (one query, sub-queries only). Pupils and parents of a class: current pupils of the class
    (of this establishment) and their legal guardians; contacts are not guardians."""
    current = Membership.objects.filter(establishment_id=establishment_id).current()
    wanted = Q(pk__in=[])
    for key in keys:
        if key in WIDE_KINDS:
            profile = "ENS" if key == "enseignants" else "EVS"
            wanted |= Q(pk__in=current.filter(profile=profile).values("user_id"))
            continue
        kind, _, class_id = key.rpartition("-")
        pupils = ClassMembership.objects.filter(
            class_group__establishment_id=establishment_id,
            class_group_id=int(class_id),
            user_id__in=current.filter(profile="ELV").values("user_id"),
        ).values("user_id")
        if kind == "eleves":
            wanted |= Q(pk__in=pupils)
        elif kind == "parents":
            parents = ParentLink.objects.filter(
                establishment_id=establishment_id, legal_guardian=True, child_id__in=pupils
            ).values("parent_id")
            wanted |= Q(pk__in=parents)
        elif kind == "equipe":
            teachers = TeachingAssignment.objects.filter(
                establishment_id=establishment_id, class_group_id=int(class_id)
            ).values("teacher_id")
            wanted |= Q(pk__in=teachers)
    return User.objects.filter(wanted, is_active=True, pk__in=current.values("user_id"))


def recipients(broadcast: Broadcast):
    """The users a group message goes to: its groups' members and the people chosen one by one
    (checked against the individual rules when it was written), never its sender."""
    targets = broadcast.targets
    chosen = User.objects.filter(pk__in=targets.get("users", []), is_active=True)
    return (members(broadcast.establishment_id, targets.get("groups", [])) | chosen).exclude(
        pk=broadcast.sender_id
    )


def send(request, keys: list[str], user_ids: list[int], subject: str, body: str, stored):
    """Record a group message (in the caller's transaction) and deliver it now, or through a
    job when it reaches more than LARGE people; the Broadcast (delivered_at empty: en cours).
    Nobody when no one is there to receive it (the caller's transaction then keeps nothing)."""
    chosen = {g.key: g for g in offered(request)}
    labels = [chosen[key].label for key in keys]  # the form offered no other key
    if user_ids:
        labels.append(f"{len(user_ids)} personne{'s' if len(user_ids) > 1 else ''}")
    broadcast = Broadcast.objects.create(
        establishment=request.establishment,
        sender=request.user,
        subject=subject,
        body=body,
        attachment=stored,
        label=", ".join(labels)[:500],
        targets={"groups": keys, "users": user_ids},
    )
    count = recipients(broadcast).count()
    if not count:
        raise Nobody
    if count > LARGE:
        from preau.jobs.queue import enqueue

        broadcast.recipients = count  # until the job counts them at delivery
        broadcast.job_id = enqueue(
            "send_group_message",
            establishment_uai=request.establishment.uai,
            broadcast_id=broadcast.pk,
        )
        broadcast.save(update_fields=["recipients", "job_id"])
    else:
        deliver(broadcast.pk)
        broadcast.refresh_from_db()
    return broadcast


def deliver(broadcast_id: int) -> dict:
    """One conversation, two participants and one message per recipient, in bulk; their
    notifications. Run again (a job retried), a delivered broadcast sends nothing more."""
    with transaction.atomic():
        broadcast = (
            Broadcast.objects.select_for_update(of=("self",))
            .select_related("establishment", "sender")
            .get(pk=broadcast_id)
        )
        if broadcast.delivered_at is not None:
            return {"recipients": broadcast.recipients, "already": True}
        ids = list(recipients(broadcast).order_by("pk").values_list("pk", flat=True))
        now = timezone.now()
        est, sender = broadcast.establishment, broadcast.sender
        conversations = Conversation.objects.bulk_create(
            [
                Conversation(
                    establishment=est,
                    subject=broadcast.subject,
                    created_by=sender,
                    created_at=now,
                    last_message_at=now,
                    broadcast=broadcast,
                )
                for _ in ids
            ],
            batch_size=BATCH,
        )
        participants = []
        for conversation, uid in zip(conversations, ids, strict=True):
            participants.append(Participant(conversation=conversation, user_id=uid))
            if sender is not None:
                participants.append(
                    Participant(conversation=conversation, user=sender, last_read_at=now)
                )
        Participant.objects.bulk_create(participants, batch_size=BATCH)
        Message.objects.bulk_create(
            [
                Message(
                    conversation=c,
                    author=sender,
                    body=broadcast.body,
                    sent_at=now,
                    attachment_id=broadcast.attachment_id,
                )
                for c in conversations
            ],
            batch_size=BATCH,
        )
        name = sender.get_full_name() if sender else "Compte supprimé"
        # Each recipient's link opens their own conversation (its e-mail carries the same).
        notify(
            est,
            ids,
            f"Nouveau message de {name} : {broadcast.subject}",
            urls={
                uid: reverse("conversation", kwargs={"uai": est.uai, "conversation_id": c.pk})
                for c, uid in zip(conversations, ids, strict=True)
            },
        )
        broadcast.recipients = len(ids)
        broadcast.delivered_at = now
        broadcast.save(update_fields=["recipients", "delivered_at"])
    return {"recipients": len(ids), "already": False}


def receipts(broadcast: Broadcast) -> list:
    """The recipients who opened their conversation (their participant rows, with the user),
    by name: « lu par n / N » and who, for the sender's eyes only."""
    return list(
        Participant.objects.filter(
            conversation__establishment_id=broadcast.establishment_id,
            conversation__broadcast=broadcast,
            last_read_at__isnull=False,
        )
        .exclude(user_id=broadcast.sender_id)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )

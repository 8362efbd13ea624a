"""Messaging with communication rules (preau.ent.access.allowed_recipients), attachments."""

from django.contrib import messages as flash
from django.contrib.postgres.aggregates import StringAgg
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from preau.core.accounts import name_search
from preau.core.models import ClassGroup, ClassMembership, Membership, ParentLink
from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import allowed_recipients, viewer
from preau.ent.cache import invalidate
from preau.ent.notify import notify
from preau.ent.views.common import PreparedPages, back, confirm_page
from preau.messaging.forms import ComposeForm, ReplyForm
from preau.messaging.models import Conversation, Message, Participant

# Above this many allowed recipients (staff), the compose page asks for a search first.
PICKER_LIMIT = 60


def _unread_count(est, user):
    return (
        Participant.objects.filter(conversation__establishment_id=est, user_id=user)
        .filter(
            Q(last_read_at__isnull=True) | Q(last_read_at__lt=F("conversation__last_message_at"))
        )
        .order_by()
        .values("user_id")
        .annotate(n=Count("*"))
        .values_list("n")
    )


# The dashboard's count, compiled once (preau.core.prepared), scoped to the establishment.
UNREAD_COUNT = PreparedQuery(_unread_count, est=int, user=int)


def unread_conversations(request) -> int:
    """Conversations of the establishment with a message the user has not read."""
    rows = UNREAD_COUNT.rows(est=request.establishment.pk, user=request.user.pk)
    return rows[0][0] if rows else 0


def _conversations(est, user):
    my_read = Participant.objects.filter(conversation=OuterRef("pk"), user_id=user).values(
        "last_read_at"
    )[:1]
    return Conversation.objects.filter(establishment_id=est, participants__user_id=user).annotate(
        my_last_read=Subquery(my_read)
    )


def _shown(conversations, user):
    """Those the user has not deleted for themselves, or which had a message since."""
    my_hidden = Participant.objects.filter(conversation=OuterRef("pk"), user_id=user).values(
        "hidden_at"
    )[:1]
    return conversations.annotate(my_hidden=Subquery(my_hidden)).filter(
        Q(my_hidden__isnull=True) | Q(my_hidden__lt=F("last_message_at"))
    )


def _participants(est, conversations):
    return (
        Participant.objects.filter(
            conversation__establishment_id=est, conversation_id__any=conversations
        )
        .select_related("user")
        .order_by("pk")
    )


# The inbox and a conversation, compiled once (preau.core.prepared), scoped to the establishment
# and to the conversations the user takes part in.
INBOX = PreparedPages(lambda est, user: _shown(_conversations(est, user), user), est=int, user=int)
CONVERSATION = PreparedQuery(
    lambda est, user, pk: _conversations(est, user).filter(pk=pk)[:1], est=int, user=int, pk=int
)
PARTICIPANTS = PreparedQuery(_participants, conversations=list)
THREAD = PreparedQuery(
    lambda est, conversation: Message.objects.filter(
        conversation__establishment_id=est, conversation_id=conversation
    ).select_related("author", "attachment"),
    conversation=int,
)


def inbox(request, uai):
    page = INBOX.page(request, est=request.establishment.pk, user=request.user.pk)
    others: dict[int, list] = {}
    for participant in (
        PARTICIPANTS.rows(est=request.establishment.pk, conversations=[c.pk for c in page])
        if page.object_list
        else ()
    ):
        if participant.user_id != request.user.pk:
            others.setdefault(participant.conversation_id, []).append(participant.user)
    for conversation in page:
        conversation.unread = (
            conversation.my_last_read is None
            or conversation.my_last_read < conversation.last_message_at
        )
        conversation.others = others.get(conversation.pk, [])
    return render(request, "messaging/inbox.html", {"page": page})


def _send(request, conversation, body, attachment, recipients_ids):
    stored = files.store(request.establishment, attachment, request.user) if attachment else None
    now = timezone.now()
    Message.objects.create(
        conversation=conversation, author=request.user, body=body, sent_at=now, attachment=stored
    )
    conversation.last_message_at = now
    conversation.save(update_fields=["last_message_at"])
    Participant.objects.filter(conversation=conversation, user=request.user).update(
        last_read_at=now
    )
    notify(
        request.establishment,
        recipients_ids,
        f"Nouveau message de {request.user.get_full_name()} : {conversation.subject}",
        reverse(
            "conversation",
            kwargs={"uai": request.establishment.uai, "conversation_id": conversation.pk},
        ),
    )


def _described(request, users):
    """Users with what tells homonyms apart: their profile here, a pupil's class of this school
    year, a guardian's children's first names (`profile`, `class_name`, `children`: sub-queries,
    no query per user)."""
    here = request.establishment.pk
    membership = Membership.objects.current().filter(establishment_id=here, user=OuterRef("pk"))
    class_name = ClassMembership.objects.filter(
        class_group__establishment_id=here,
        class_group__kind=ClassGroup.Kind.CLASS,
        class_group__school_year=viewer(request).year,
        user=OuterRef("pk"),
    ).values("class_group__name")
    children = (
        ParentLink.objects.filter(establishment_id=here, parent=OuterRef("pk"), legal_guardian=True)
        .values("parent")
        .annotate(names=StringAgg("child__first_name", ", ", order_by="child__first_name"))
        .values("names")
    )
    return users.annotate(
        profile=Subquery(membership.values("profile")[:1]),
        class_name=Subquery(class_name[:1]),
        children=Subquery(children),
    )


def compose(request, uai):
    allowed = allowed_recipients(request).order_by("last_name", "first_name")
    query = request.GET.get("q", "").strip()
    wanted = request.POST.getlist("recipients") or request.GET.getlist("a")
    # The search only narrows who may be written to (accents and case ignored).
    shown = _described(request, allowed.filter(*name_search(query)))
    too_many = not query and allowed.count() > PICKER_LIMIT
    choices = list(shown[:PICKER_LIMIT]) if not too_many else []
    # Keep recipients chosen earlier (or passed as ?a=) even when they are not in the search result.
    extra = _described(request, allowed).filter(pk__in=[w for w in wanted if w.isdigit()])
    choices += list(extra.exclude(pk__in=[u.pk for u in choices]))
    form = ComposeForm(
        request.POST or None,
        request.FILES or None,
        recipients=choices,
        initial={"recipients": wanted},
    )
    if request.method == "POST" and form.is_valid():
        ids = [int(i) for i in form.cleaned_data["recipients"]]
        # The rule is checked on the server, whatever the form showed.
        if allowed.filter(pk__in=ids).count() != len(set(ids)):
            raise Http404
        with files.atomic_upload(form, "attachment"):
            conversation = Conversation.objects.create(
                establishment=request.establishment,
                subject=form.cleaned_data["subject"],
                created_by=request.user,
            )
            Participant.objects.bulk_create(
                [
                    Participant(conversation=conversation, user_id=uid)
                    for uid in {request.user.pk, *ids}
                ]
            )
            _send(
                request,
                conversation,
                form.cleaned_data["body"],
                form.cleaned_data["attachment"],
                ids,
            )
        if not form.errors:
            flash.success(request, "Message envoyé.")
            return back(request, "conversation", conversation_id=conversation.pk)
    return render(
        request,
        "messaging/compose.html",
        {"form": form, "query": query, "too_many": too_many, "no_match": query and not choices},
        status=400 if request.method == "POST" else 200,
    )


def conversation(request, uai, conversation_id):
    item = CONVERSATION.first(
        est=request.establishment.pk, user=request.user.pk, pk=conversation_id
    )
    if item is None:
        raise Http404
    participants = PARTICIPANTS.rows(est=request.establishment.pk, conversations=[item.pk])
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with files.atomic_upload(form, "attachment"):
            _send(
                request,
                item,
                form.cleaned_data["body"],
                form.cleaned_data["attachment"],
                [p.user_id for p in participants if p.user_id != request.user.pk],
            )
        if not form.errors:
            flash.success(request, "Réponse envoyée.")
            return back(request, "conversation", conversation_id=item.pk)
    if item.my_last_read is None or item.my_last_read < item.last_message_at:
        # Marked read only when it was not (reading it again changes nothing: no write).
        Participant.objects.filter(conversation=item, user=request.user).update(
            last_read_at=timezone.now()
        )
        invalidate(request)  # the cached dashboard counted this conversation as unread
    thread = THREAD.rows(est=request.establishment.pk, conversation=item.pk)
    return render(
        request,
        "messaging/conversation.html",
        {
            "item": item,
            "thread": thread,
            "form": form,
            "others": [p.user for p in participants if p.user_id != request.user.pk],
        },
        status=400 if request.method == "POST" else 200,
    )


def conversation_hide(request, uai, conversation_id):
    """Delete a conversation for oneself, after a confirmation page: the others keep it, and a
    new message brings it back."""
    item = CONVERSATION.first(
        est=request.establishment.pk, user=request.user.pk, pk=conversation_id
    )
    if item is None:
        raise Http404
    if request.method == "POST":
        now = timezone.now()
        Participant.objects.filter(conversation=item, user=request.user).update(
            hidden_at=now, last_read_at=now
        )
        invalidate(request)  # the cached dashboard may count it as unread
        flash.success(request, "Conversation supprimée de votre messagerie.")
        return back(request, "messages")
    return confirm_page(
        request,
        "Supprimer une conversation",
        f"Supprimer la conversation « {item.subject} » de votre messagerie ? "
        "Les autres participants la gardent ; un nouveau message la fera réapparaître.",
        "Supprimer pour moi",
        "conversation",
        conversation_id=item.pk,
    )


def reads_attachment(request, stored) -> bool:
    """A message attachment is read (preau.ent.views.files) by the conversation's participants."""
    return (
        Message.objects.for_request(request)
        .filter(attachment=stored, conversation__participants__user=request.user)
        .exists()
    )

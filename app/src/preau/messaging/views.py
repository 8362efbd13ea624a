"""Messaging with communication rules (preau.ent.access.allowed_recipients), attachments;
group messages (preau.messaging.groups) and the moderation of reported messages."""

from django.contrib import messages as flash
from django.contrib.postgres.aggregates import StringAgg
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from preau.core.accounts import audit, name_search
from preau.core.models import ClassGroup, ClassMembership, Membership, ParentLink
from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import SUPERVISORS, allowed_recipients, require, viewer
from preau.ent.cache import cached_for_user, invalidate
from preau.ent.notify import notify
from preau.ent.views.common import REFRESH_SECONDS, PreparedPages, back, confirm_page
from preau.messaging import groups
from preau.messaging.forms import ComposeForm, GroupsForm, ReplyForm, ReportForm
from preau.messaging.models import Broadcast, Conversation, Message, Participant, Report

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
def _inbox(est, user):
    """The conversations shown in the inbox; a group message's ones (one per recipient) only
    once their recipient replied, for its sender: the broadcast's page lists them all."""
    return _shown(_conversations(est, user), user).exclude(
        broadcast__isnull=False, created_by_id=user, last_message_at=F("created_at")
    )


INBOX = PreparedPages(_inbox, est=int, user=int)
# The sender's latest group messages, above the inbox.
SENT = PreparedQuery(
    lambda est, user: Broadcast.objects.filter(establishment_id=est, sender_id=user)[:5],
    est=int,
    user=int,
)
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
    # Kept PREAU_USER_CACHE_SECONDS (ent.cache): sending one is a write of the user's, which
    # refreshes it at once; only its « envoi en cours » may outlive the job by that much.
    sent = cached_for_user(
        request,
        "sent-broadcasts",
        lambda: list(SENT.rows(est=request.establishment.pk, user=request.user.pk)),
    )
    return render(
        request,
        "messaging/inbox.html",
        {"page": page, "sent": sent, "moderates": viewer(request).is_supervisor},
    )


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
    # The groups this member may write to (messaging.groups owns them), checked as choices.
    group_form = GroupsForm(request.POST or None, groups=groups.offered(request))
    if request.method == "POST" and form.is_valid() and group_form.is_valid():
        ids = [int(i) for i in form.cleaned_data["recipients"]]
        keys = group_form.cleaned_data["groups"]
        # The rule is checked on the server, whatever the form showed.
        if allowed.filter(pk__in=ids).count() != len(set(ids)):
            raise Http404
        if keys:  # a group message: each recipient alone with the sender
            return _send_to_groups(request, form, group_form, keys, ids)
        if not ids:
            form.add_error("recipients", "Choisissez au moins un destinataire ou un groupe.")
        else:
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
    return _compose_page(request, form, group_form, query, too_many, choices)


def _compose_page(request, form, group_form, query="", too_many=False, choices=()):
    folds: dict[str, list] = {kind: [] for kind in groups.FOLDS}
    wide = []
    for choice in group_form["groups"]:
        kind = group_form.kinds[choice.data["value"]]
        folds.get(kind, wide).append(choice)
    return render(
        request,
        "messaging/compose.html",
        {
            "form": form,
            "group_form": group_form,
            "folds": [(groups.FOLDS[k], items) for k, items in folds.items() if items],
            "wide": wide,
            "query": query,
            "too_many": too_many,
            "no_match": query and not choices,
        },
        status=400 if request.method == "POST" else 200,
    )


def _send_to_groups(request, form, group_form, keys, ids):
    """A group message (messaging.groups): its page shows « envoi en cours » while a job
    delivers it, then « lu par n / N ». Nothing is kept when the attachment is refused or the
    groups hold nobody."""
    try:
        with files.atomic_upload(form, "attachment"):
            attachment = form.cleaned_data["attachment"]
            stored = (
                files.store(request.establishment, attachment, request.user) if attachment else None
            )
            sent = groups.send(
                request, keys, ids, form.cleaned_data["subject"], form.cleaned_data["body"], stored
            )
    except groups.Nobody:
        group_form.add_error("groups", "Ces groupes ne comptent personne à qui écrire.")
    if form.errors or group_form.errors:
        return _compose_page(request, form, group_form)
    if sent.delivered_at is None:
        flash.success(request, f"Envoi en cours à {sent.recipients} personnes.")
    else:
        plural = "s" if sent.recipients > 1 else ""
        flash.success(request, f"Message envoyé à {sent.recipients} personne{plural}.")
    return back(request, "broadcast", broadcast_id=sent.pk)


def broadcast(request, uai, broadcast_id):
    """A group message, for its sender only: « lu par n / N », who read it, who replied; « envoi
    en cours » (the page reloading itself) while the job delivers it."""
    item = (
        Broadcast.objects.for_request(request)
        .filter(pk=broadcast_id, sender=request.user)
        .select_related("attachment")
        .first()
    )
    if item is None:
        raise Http404
    from preau.jobs.queue import job_status

    pending = item.delivered_at is None
    job = job_status(item.job_id, uai) if pending and item.job_id else None
    readers = [] if pending else groups.receipts(item)
    response = render(
        request,
        "messaging/broadcast.html",
        {"item": item, "pending": pending, "job": job, "readers": readers},
    )
    if pending and not (job and job["finished"]):
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


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
    """A message attachment is read (preau.ent.views.files) by the conversation's participants,
    unless the vie scolaire hid the message."""
    return (
        Message.objects.for_request(request)
        .filter(
            attachment=stored,
            conversation__participants__user=request.user,
            hidden_at__isnull=True,
        )
        .exists()
    )


# --- reports and moderation --------------------------------------------------------------------


def message_report(request, uai, message_id):
    """« Signaler »: a participant reports a message they received (not their own, not one
    already hidden) with a reason; the vie scolaire and the direction are notified."""
    item = (
        Message.objects.for_request(request)
        .filter(pk=message_id, conversation__participants__user=request.user, hidden_at=None)
        .exclude(author=request.user)
        .select_related("conversation", "author")
        .first()
    )
    if item is None:
        raise Http404
    already = Report.objects.for_request(request).filter(
        message=item, reporter=request.user, resolved_at=None
    )
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not already.exists():
            Report.objects.create(
                establishment=request.establishment,
                message=item,
                reporter=request.user,
                reason=form.cleaned_data["reason"],
            )
            moderators = (
                Membership.objects.for_request(request)
                .current()
                .filter(profile__in=SUPERVISORS)
                .values_list("user_id", flat=True)
            )
            notify(
                request.establishment,
                list(moderators),
                "Un message a été signalé : il attend votre modération.",
                reverse("moderation", kwargs={"uai": uai}),
            )
        flash.success(request, "Message signalé à la vie scolaire. Merci.")
        return back(request, "conversation", conversation_id=item.conversation_id)
    return render(
        request,
        "messaging/report.html",
        {"form": form, "item": item, "already": already.exists()},
        status=400 if request.method == "POST" else 200,
    )


# Messages of the conversation shown on each side of a reported one, to the moderators.
CONTEXT = 3


def moderation(request, uai):
    """The reported messages of the establishment not dealt with yet, for the vie scolaire and
    the direction, each with its context (_with_context)."""
    require(viewer(request).is_supervisor)
    reports = list(
        Report.objects.for_request(request)
        .filter(resolved_at=None)
        .select_related("message__author", "message__conversation", "reporter")
    )
    _with_context(request, reports)
    return render(request, "messaging/moderation.html", {"reports": reports})


def _with_context(request, reports) -> None:
    """Set each report's `before` and `after`: up to CONTEXT messages of its conversation on
    each side of the reported one, for the moderators to judge it (an insult may answer a
    provocation), read-only; a masked message stays masked (the template). Two queries
    whatever the number of reports: the conversations' message ids in order, then the
    neighbours; both scoped to the establishment."""
    mine = Message.objects.for_request(request)
    order: dict[int, list[int]] = {}
    for pk, conversation_id in (
        mine.filter(conversation_id__in={r.message.conversation_id for r in reports})
        .order_by("sent_at", "pk")
        .values_list("pk", "conversation_id")
    ):
        order.setdefault(conversation_id, []).append(pk)
    around = {}
    for report in reports:
        ids = order[report.message.conversation_id]
        at = ids.index(report.message_id)
        around[report.pk] = (ids[max(0, at - CONTEXT) : at], ids[at + 1 : at + 1 + CONTEXT])
    wanted = {pk for before, after in around.values() for pk in before + after}
    rows = mine.filter(pk__in=wanted).select_related("author").in_bulk() if wanted else {}
    for report in reports:
        before, after = around[report.pk]
        report.before = [rows[pk] for pk in before]
        report.after = [rows[pk] for pk in after]


def _copies(request, message):
    """The message and, when it is a group message, its copy in every recipient's conversation
    (groups.deliver wrote them at the same time, from the same author): hidden together."""
    copies = Message.objects.for_request(request)
    broadcast = message.conversation.broadcast_id
    if broadcast is None or message.author_id != message.conversation.created_by_id:
        return copies.filter(pk=message.pk)
    return copies.filter(
        conversation__broadcast_id=broadcast, author_id=message.author_id, sent_at=message.sent_at
    )


@require_POST
def report_resolve(request, uai, report_id):
    """Hide the reported message (kept, shown « masqué par la vie scolaire »; every open report
    of it closed) or dismiss the report; either goes to the audit log."""
    require(viewer(request).is_supervisor)
    report = (
        Report.objects.for_request(request)
        .filter(pk=report_id, resolved_at=None)
        .select_related("message__author", "message__conversation", "reporter")
        .first()
    )
    action = request.POST.get("action")
    if report is None or action not in ("hide", "dismiss"):
        raise Http404
    now, message = timezone.now(), report.message
    with transaction.atomic():
        if action == "hide":
            _copies(request, message).update(hidden_at=now, hidden_by=request.user)
            closed = Report.objects.for_request(request).filter(message=message, resolved_at=None)
            closed.update(resolved_at=now, resolved_by=request.user, outcome=Report.Outcome.HIDDEN)
        else:
            report.resolved_at, report.resolved_by = now, request.user
            report.outcome = Report.Outcome.DISMISSED
            report.save(update_fields=["resolved_at", "resolved_by", "outcome"])
        audit(
            "message_hidden" if action == "hide" else "report_dismissed",
            request.establishment,
            [u for u in (message.author, report.reporter) if u is not None],
            by=request.user.username,
            via="moderation",
            details={"message_id": message.pk, "report_id": report.pk},
        )
    invalidate(request)
    flash.success(
        request, "Message masqué." if action == "hide" else "Signalement classé sans suite."
    )
    return back(request, "moderation")

"""Messaging with communication rules (preau.ent.access.allowed_recipients), attachments."""
from django.contrib import messages as flash
from django.db import transaction
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from preau.ent import files
from preau.ent.access import allowed_recipients
from preau.ent.cache import invalidate
from preau.ent.forms import ComposeForm, ReplyForm
from preau.ent.models import Conversation, Message, Participant
from preau.ent.notify import notify
from preau.ent.views.common import back, paginate

# Above this many allowed recipients (staff), the compose page asks for a search first.
PICKER_LIMIT = 60


def unread_conversations(request):
    return Participant.objects.for_request(request).filter(user=request.user).filter(
        Q(last_read_at__isnull=True) | Q(last_read_at__lt=Subquery(
            Conversation.objects.filter(pk=OuterRef("conversation_id")).values("last_message_at")[:1])))


def inbox(request, uai):
    my_read = Participant.objects.filter(conversation=OuterRef("pk"), user=request.user).values("last_read_at")[:1]
    conversations = (Conversation.objects.for_request(request).filter(participants__user=request.user)
                     .annotate(my_last_read=Subquery(my_read))
                     .prefetch_related(Prefetch("participants", queryset=Participant.objects.select_related("user"))))
    page = paginate(request, conversations)
    for conversation in page:
        conversation.unread = (conversation.my_last_read is None
                               or conversation.my_last_read < conversation.last_message_at)
        conversation.others = [p.user for p in conversation.participants.all() if p.user_id != request.user.pk]
    return render(request, "ent/inbox.html", {"page": page})


def _send(request, conversation, body, attachment, recipients_ids):
    stored = files.store(request.establishment, attachment, request.user) if attachment else None
    now = timezone.now()
    Message.objects.create(conversation=conversation, author=request.user, body=body, sent_at=now,
                           attachment=stored)
    conversation.last_message_at = now
    conversation.save(update_fields=["last_message_at"])
    Participant.objects.filter(conversation=conversation, user=request.user).update(last_read_at=now)
    notify(request.establishment, recipients_ids,
           f"Nouveau message de {request.user.get_full_name()} : {conversation.subject}",
           reverse("conversation", kwargs={"uai": request.establishment.uai, "conversation_id": conversation.pk}))


def compose(request, uai):
    allowed = allowed_recipients(request).order_by("last_name", "first_name")
    query = request.GET.get("q", "").strip()
    wanted = request.POST.getlist("recipients") or request.GET.getlist("a")
    shown = allowed
    if query:
        for word in query.split():
            shown = shown.filter(Q(last_name__icontains=word) | Q(first_name__icontains=word))
    too_many = not query and allowed.count() > PICKER_LIMIT
    choices = list(shown[:PICKER_LIMIT]) if not too_many else []
    # Keep recipients chosen earlier (or passed as ?a=) even when they are not in the search result.
    extra = allowed.filter(pk__in=[w for w in wanted if w.isdigit()]).exclude(pk__in=[u.pk for u in choices])
    choices += list(extra)
    form = ComposeForm(request.POST or None, request.FILES or None, recipients=choices,
                       initial={"recipients": wanted})
    if request.method == "POST" and form.is_valid():
        ids = [int(i) for i in form.cleaned_data["recipients"]]
        # The rule is checked on the server, whatever the form showed.
        if allowed.filter(pk__in=ids).count() != len(set(ids)):
            raise Http404
        with transaction.atomic():
            conversation = Conversation.objects.create(establishment=request.establishment,
                                                       subject=form.cleaned_data["subject"], created_by=request.user)
            Participant.objects.bulk_create([Participant(conversation=conversation, user_id=uid)
                                             for uid in {request.user.pk, *ids}])
            _send(request, conversation, form.cleaned_data["body"], form.cleaned_data["attachment"], ids)
        flash.success(request, "Message envoyé.")
        return back(request, "conversation", conversation_id=conversation.pk)
    return render(request, "ent/compose.html", {"form": form, "query": query, "too_many": too_many},
                  status=400 if request.method == "POST" else 200)


def conversation(request, uai, conversation_id):
    item = get_object_or_404(Conversation.objects.for_request(request).filter(participants__user=request.user),
                             pk=conversation_id)
    participants = list(Participant.objects.filter(conversation=item).select_related("user"))
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            _send(request, item, form.cleaned_data["body"], form.cleaned_data["attachment"],
                  [p.user_id for p in participants if p.user_id != request.user.pk])
        flash.success(request, "Réponse envoyée.")
        return back(request, "conversation", conversation_id=item.pk)
    mine = next((p for p in participants if p.user_id == request.user.pk), None)
    if mine is not None and (mine.last_read_at is None or mine.last_read_at < item.last_message_at):
        invalidate(request)  # the cached dashboard counted this conversation as unread
    Participant.objects.filter(conversation=item, user=request.user).update(last_read_at=timezone.now())
    thread = Message.objects.filter(conversation=item).select_related("author", "attachment")
    return render(request, "ent/conversation.html", {
        "item": item, "thread": thread, "form": form,
        "others": [p.user for p in participants if p.user_id != request.user.pk]},
        status=400 if request.method == "POST" else 200)

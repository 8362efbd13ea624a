"""News per establishment, the resource links catalogue, notifications, each member's notification
preferences and quiet hours."""
import functools

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from preau.core.prepared import PreparedQuery
from preau.ent.access import require, viewer
from preau.ent.forms import LinkForm, NewsForm, NotificationPreferencesForm, QuietHoursForm
from preau.ent.models import NewsItem, Notification, ResourceLink
from preau.ent.notify import emails_enabled, quiet_hours
from preau.ent.views.common import back, paginate

PUBLISHERS = ("DIR", "EVS")


def for_audience(queryset, profile):
    """Rows addressed to everyone (empty audience) or to this profile."""
    return queryset.filter(Q(audience=[]) | Q(audience__contains=[profile]))


def visible_news(request):
    me = viewer(request)
    news = NewsItem.objects.for_request(request).select_related("author")
    return news if me.is_supervisor else for_audience(news, me.profile)


def _latest_news(est, profile=None):
    news = NewsItem.objects.filter(establishment_id=est).select_related("author")
    return (news if profile is None else for_audience(news, profile))[:3]


# The dashboard's three latest news, compiled once per audience (preau.core.prepared): all of
# them for the direction and vie scolaire, those addressed to everyone or to the profile else.
LATEST_NEWS = {profile: PreparedQuery(functools.partial(_latest_news, profile=profile), est=int)
               for profile in ("ELV", "TUT", "ENS", "ETA")}
LATEST_NEWS[None] = PreparedQuery(_latest_news, est=int)


def latest_news(request) -> list:
    me = viewer(request)
    return LATEST_NEWS[None if me.is_supervisor else me.profile].rows(est=request.establishment.pk)


def news(request, uai):
    me = viewer(request)
    can_publish = me.profile in PUBLISHERS
    form = NewsForm(request.POST or None) if can_publish else None
    if request.method == "POST":
        require(can_publish)
        if form.is_valid():
            NewsItem.objects.create(establishment=request.establishment, author=request.user,
                                    title=form.cleaned_data["title"], body=form.cleaned_data["body"],
                                    audience=form.cleaned_data["audience"])
            messages.success(request, "Actualité publiée.")
            return back(request, "news")
    return render(request, "ent/news.html", {"page": paginate(request, visible_news(request), 10), "form": form},
                  status=400 if request.method == "POST" else 200)


def links(request, uai):
    me = viewer(request)
    can_edit = me.is_local_admin or me.profile == "DIR"
    form = LinkForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        require(can_edit)
        if form.is_valid():
            ResourceLink.objects.create(establishment=request.establishment, **form.cleaned_data)
            messages.success(request, "Ressource ajoutée.")
            return back(request, "links")
    items = ResourceLink.objects.for_request(request)
    if not can_edit:
        items = for_audience(items, me.profile)
    return render(request, "ent/links.html", {"items": items, "form": form},
                  status=400 if request.method == "POST" else 200)


def notifications(request, uai):
    mine = Notification.objects.for_request(request).filter(user=request.user, delivered_at__isnull=False)
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        return back(request, "notifications")
    return render(request, "ent/notifications.html", {"page": paginate(request, mine.order_by("-delivered_at"))})


def notification_preferences(request, uai):
    """Every member (any profile) chooses for their own account only whether notifications also
    come by e-mail: yes unless they said no (opt-out). In-app notifications are unaffected."""
    user = request.user
    form = NotificationPreferencesForm(request.POST if request.method == "POST" else None,
                                       initial={"email": "oui" if user.email_notifications else "non"})
    if request.method == "POST" and form.is_valid():
        user.email_notifications = form.cleaned_data["email"]
        user.save(update_fields=["email_notifications"])
        messages.success(request, "Préférences enregistrées : " + (
            "vous recevrez aussi les notifications par e-mail." if user.email_notifications
            else "vous ne recevrez plus les notifications par e-mail."))
        return back(request, "notification_preferences")
    if not emails_enabled(request.establishment):
        state = " Pour l'instant, votre établissement n'envoie pas les notifications par e-mail."
    elif not user.email:
        state = " Aucune adresse e-mail n'est enregistrée pour votre compte : vous ne recevez pas d'e-mails."
    else:
        state = f" Adresse e-mail de votre compte : {user.email}."
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Mes préférences", "submit": "Enregistrer",
        "intro": "Choisissez si vos notifications vous sont aussi envoyées par e-mail ; ce choix vaut "
                 "pour tous vos établissements." + state,
        "back_url": reverse("notifications", kwargs={"uai": uai})},
        status=400 if request.method == "POST" else 200)


def quiet_hours_settings(request, uai):
    """The head of establishment adjusts the quiet hours of notifications."""
    me = viewer(request)
    require(me.profile == "DIR")
    establishment = request.establishment
    current = quiet_hours(establishment)
    saved = establishment.settings or {}
    form = QuietHoursForm(request.POST or None, email_available=settings.PREAU_EMAIL_NOTIFICATIONS,
                          initial={**current, "enabled": current.get("enabled", True),
                                   "email": saved.get("email_notifications", False)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        establishment.settings = {**saved, "quiet_hours": {
            "enabled": data["enabled"], "start": data["start"].strftime("%H:%M"),
            "end": data["end"].strftime("%H:%M"), "weekend": data["weekend"]}}
        if "email" in data:
            establishment.settings["email_notifications"] = data["email"]
        establishment.save(update_fields=["settings"])
        messages.success(request, "Réglages des notifications enregistrés.")
        return back(request, "quiet_hours")
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Heures calmes des notifications", "submit": "Enregistrer",
        "intro": "Aucune notification n'est envoyée pendant ces heures ; elles sont remises à la fin "
                 "de la période calme." + ("" if settings.PREAU_EMAIL_NOTIFICATIONS else
                                           " L'envoi par e-mail n'est pas activé sur la plateforme."),
        "back_url": reverse("establishment_home", kwargs={"uai": uai})},
        status=400 if request.method == "POST" else 200)

"""In-app notifications, each member's notification preferences and the quiet hours (DIR)."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from preau.ent.access import require, viewer
from preau.ent.forms import NotificationPreferencesForm, QuietHoursForm
from preau.ent.models import Notification
from preau.ent.notify import emails_enabled, quiet_hours
from preau.ent.views.common import back, paginate


def notifications(request, uai):
    mine = Notification.objects.for_request(request).filter(
        user=request.user, delivered_at__isnull=False
    )
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        return back(request, "notifications")
    return render(
        request,
        "ent/notifications.html",
        {"page": paginate(request, mine.order_by("-delivered_at"))},
    )


def notification_preferences(request, uai):
    """Every member (any profile) chooses for their own account only whether notifications also
    come by e-mail: yes unless they said no (opt-out). In-app notifications are unaffected."""
    user = request.user
    form = NotificationPreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={"email": "oui" if user.email_notifications else "non"},
    )
    if request.method == "POST" and form.is_valid():
        user.email_notifications = form.cleaned_data["email"]
        user.save(update_fields=["email_notifications"])
        messages.success(
            request,
            "Préférences enregistrées : "
            + (
                "vous recevrez aussi les notifications par e-mail."
                if user.email_notifications
                else "vous ne recevrez plus les notifications par e-mail."
            ),
        )
        return back(request, "notification_preferences")
    if not emails_enabled(request.establishment):
        state = " Pour l'instant, votre établissement n'envoie pas les notifications par e-mail."
    elif not user.email:
        state = " Aucune adresse e-mail n'est enregistrée pour votre compte : vous ne recevez pas d'e-mails."
    else:
        state = f" Adresse e-mail de votre compte : {user.email}."
    return render(
        request,
        "ent/form_page.html",
        {
            "form": form,
            "title": "Mes préférences",
            "submit": "Enregistrer",
            "intro": "Choisissez si vos notifications vous sont aussi envoyées par e-mail ; ce choix vaut "
            "pour tous vos établissements." + state,
            "back_url": reverse("notifications", kwargs={"uai": uai}),
        },
        status=400 if request.method == "POST" else 200,
    )


def quiet_hours_settings(request, uai):
    """The head of establishment adjusts the quiet hours of notifications."""
    me = viewer(request)
    require(me.profile == "DIR")
    establishment = request.establishment
    current = quiet_hours(establishment)
    saved = establishment.settings or {}
    form = QuietHoursForm(
        request.POST or None,
        email_available=settings.PREAU_EMAIL_NOTIFICATIONS,
        initial={
            **current,
            "enabled": current.get("enabled", True),
            "email": saved.get("email_notifications", False),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        establishment.settings = {
            **saved,
            "quiet_hours": {
                "enabled": data["enabled"],
                "start": data["start"].strftime("%H:%M"),
                "end": data["end"].strftime("%H:%M"),
                "weekend": data["weekend"],
            },
        }
        if "email" in data:
            establishment.settings["email_notifications"] = data["email"]
        establishment.save(update_fields=["settings"])
        messages.success(request, "Réglages des notifications enregistrés.")
        return back(request, "quiet_hours")
    return render(
        request,
        "ent/form_page.html",
        {
            "form": form,
            "title": "Heures calmes des notifications",
            "submit": "Enregistrer",
            "intro": "Aucune notification n'est envoyée pendant ces heures ; elles sont remises à la fin "
            "de la période calme."
            + (
                ""
                if settings.PREAU_EMAIL_NOTIFICATIONS
                else " L'envoi par e-mail n'est pas activé sur la plateforme."
            ),
            "back_url": reverse("establishment_home", kwargs={"uai": uai}),
        },
        status=400 if request.method == "POST" else 200,
    )

"""The médiacentre page: the GAR resources of the establishment for the member's profile, and
for the direction the GAR directory export (a background job) and its state."""

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from preau.ent.access import require, viewer
from preau.gar.idp import SESSION_UAI, gar_enabled
from preau.gar.models import GarResource
from preau.jobs import queue

# Establishment.settings' key of the last export job asked from the page.
EXPORT_JOB = "gar_export_job"


@require_http_methods(["GET", "POST"])
def mediacentre(request, uai):
    """Every member sees the resources shown to their profile (or to all). Each link is the
    resource's own address: the GAR then asks Préau, its identity provider, who is coming, and
    the answer names this establishment (remembered in the session: a member of several).
    The direction and local admins ask for the directory export (POST) and see its state."""
    me = viewer(request)
    est = request.establishment
    enabled = gar_enabled(est)
    can_export = enabled and (me.is_local_admin or me.profile == "DIR")
    if request.method == "POST":
        require(can_export)
        with transaction.atomic():
            job_id = queue.enqueue("gar_export", establishment_uai=est.uai)
            est.settings = {**est.settings, EXPORT_JOB: job_id}
            est.save(update_fields=["settings"])
        messages.success(request, "Export de l'annuaire pour le GAR demandé.")
        return redirect("mediacentre", uai=est.uai)
    resources = GarResource.objects.none()
    if enabled:
        resources = GarResource.objects.for_request(request).filter(
            Q(profiles=[]) | Q(profiles__contains=[me.profile])
        )
        request.session[SESSION_UAI] = est.uai
    job = None
    if can_export and est.settings.get(EXPORT_JOB):
        job = queue.job_status(est.settings[EXPORT_JOB], est.uai)
    context = {"enabled": enabled, "resources": resources, "can_export": can_export, "job": job}
    return render(request, "gar/mediacentre.html", context)

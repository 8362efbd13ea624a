"""The médiacentre page: the GAR resources of the establishment for the member's profile, and
for the direction the GAR directory export (a background job, also made every night), the last
export's date and state, and whether it reached the GAR."""

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from preau.ent.access import require, viewer
from preau.gar import export
from preau.gar.idp import SESSION_UAI, gar_enabled
from preau.gar.models import GarExport, GarResource
from preau.jobs import queue


@require_http_methods(["GET", "POST"])
def mediacentre(request, uai):
    """Every member sees the resources shown to their profile (or to all). Each link is the
    resource's own address: the GAR then asks Préau, its identity provider, who is coming, and
    the answer names this establishment (remembered in the session: a member of several).
    The direction and local admins ask for the directory export (POST) and see the last one's
    date and state (made, failed and why, sent to the GAR or not)."""
    me = viewer(request)
    est = request.establishment
    enabled = gar_enabled(est)
    can_export = enabled and (me.is_local_admin or me.profile == "DIR")
    if request.method == "POST":
        require(can_export)
        export.ask(est)
        messages.success(request, "Export de l'annuaire pour le GAR demandé.")
        return redirect("mediacentre", uai=est.uai)
    resources = GarResource.objects.none()
    if enabled:
        resources = GarResource.objects.for_request(request).filter(
            Q(profiles=[]) | Q(profiles__contains=[me.profile])
        )
        request.session[SESSION_UAI] = est.uai
    last = job = None
    if can_export:
        last = GarExport.objects.for_request(request).first()
        if last is not None and last.job_id and last.status == GarExport.Status.PENDING:
            job = queue.job_status(last.job_id, est.uai)
    context = {
        "enabled": enabled,
        "resources": resources,
        "can_export": can_export,
        "last": last,
        "job": job,
    }
    return render(request, "gar/mediacentre.html", context)

"""Activation letters in the establishment's directory pages (preau.ent.letters): ask for a
batch (POST, then the batch's page: Post/Redirect/Get), follow its job, download its PDF,
regenerate it after a confirmation. Local admins (ADML) and platform admins only."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from preau.core import account_emails
from preau.core.models import ClassGroup, Platform
from preau.core.tenancy import local_admin_required
from preau.ent import files, letters
from preau.ent.forms import LettersForm
from preau.ent.models import LetterBatch
from preau.ent.views.common import job_page


def _batch_or_404(request, batch_id) -> LetterBatch:
    return get_object_or_404(LetterBatch.objects.for_request(request), pk=batch_id)


@never_cache
@require_http_methods(["GET", "POST"])
@local_admin_required
def letters_page(request, uai):
    classes = (
        ClassGroup.objects.for_request(request)
        .filter(school_year=Platform.current_school_year())
        .values_list("name", flat=True)
    )
    form = LettersForm(request.POST or None, classes=list(classes))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                batch = letters.create_batch(
                    request.establishment,
                    class_name=form.cleaned_data["class_name"],
                    profile=form.cleaned_data["profile"],
                    by=request.user.username,
                    site_url=account_emails.site_url(request.build_absolute_uri("/")),
                    only_here=not request.user.is_platform_admin,
                )
            except letters.LettersError as refusal:
                form.add_error(None, str(refusal))
            else:
                left_out = batch.federated_left_out
                messages.success(
                    request,
                    f"Lettres demandées ({batch.selection}, {len(batch.user_ids)} compte(s)) : "
                    "elles sont en préparation."
                    + (f" {letters.LEFT_OUT.format(n=left_out)}" if left_out else ""),
                )
                return redirect("letter_batch", uai=uai, batch_id=batch.pk)
    batches = LetterBatch.objects.for_request(request)[:50]
    return render(
        request,
        "ent/letters.html",
        {"form": form, "batches": batches, "code_days": settings.ACTIVATION_CODE_DAYS},
        status=status,
    )


@never_cache
@local_admin_required
def letter_batch(request, uai, batch_id):
    return job_page(request, "ent/letter_batch.html", {}, _batch_or_404(request, batch_id))


@local_admin_required
def letter_batch_file(request, uai, batch_id):
    batch = _batch_or_404(request, batch_id)
    if batch.file_id is None:
        raise Http404
    return files.download_response(batch.file)


@never_cache
@require_http_methods(["GET", "POST"])
@local_admin_required
def letter_batch_regenerate(request, uai, batch_id):
    batch = _batch_or_404(request, batch_id)
    if request.method == "POST":
        letters.regenerate(batch, by=request.user.username)
        messages.success(
            request,
            "Nouveaux codes demandés : les codes des lettres précédentes ne fonctionnent plus. "
            "Les nouvelles lettres sont en préparation.",
        )
        return redirect("letter_batch", uai=uai, batch_id=batch.pk)
    return render(request, "ent/letter_regenerate.html", {"batch": batch})

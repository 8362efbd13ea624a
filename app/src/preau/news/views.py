"""News per establishment and the resource links catalogue."""

import functools

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.utils import formats

from preau.core.prepared import PreparedQuery
from preau.ent.access import require, viewer
from preau.ent.views.common import back, confirm_page, form_page, paginate
from preau.news.forms import LinkForm, NewsForm
from preau.news.models import NewsItem, ResourceLink

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
LATEST_NEWS: dict[str | None, PreparedQuery] = {
    profile: PreparedQuery(functools.partial(_latest_news, profile=profile), est=int)
    for profile in ("ELV", "TUT", "ENS", "ETA")
}
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
            NewsItem.objects.create(
                establishment=request.establishment,
                author=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                audience=form.cleaned_data["audience"],
            )
            messages.success(request, "Actualité publiée.")
            return back(request, "news")
    return render(
        request,
        "news/news.html",
        {"page": paginate(request, visible_news(request), 10), "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _editable_news(request, news_id):
    """A news item for its author or the direction, who manages the establishment's news."""
    item = get_object_or_404(NewsItem.objects.for_request(request), pk=news_id)
    require(item.author_id == request.user.pk or viewer(request).profile == "DIR")
    return item


def news_edit(request, uai, news_id):
    item = _editable_news(request, news_id)
    initial = {"title": item.title, "body": item.body, "audience": item.audience}
    form = NewsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        for field in ("title", "body", "audience"):
            setattr(item, field, form.cleaned_data[field])
        item.save(update_fields=["title", "body", "audience"])
        messages.success(request, "Actualité modifiée.")
        return back(request, "news")
    return form_page(request, form, "Modifier l'actualité", "Enregistrer les modifications", "news")


def news_delete(request, uai, news_id):
    """A confirmation page (GET), then the deletion (POST)."""
    item = _editable_news(request, news_id)
    if request.method == "POST":
        item.delete()
        messages.success(request, "Actualité supprimée.")
        return back(request, "news")
    published = formats.date_format(item.published_at, "j F Y")
    return confirm_page(
        request,
        "Supprimer une actualité",
        f"Supprimer l'actualité « {item.title} » publiée le {published} ?",
        "Supprimer l'actualité",
        "news",
    )


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
    return render(
        request,
        "news/links.html",
        {"items": items, "form": form},
        status=400 if request.method == "POST" else 200,
    )

"""News per establishment and the resource links catalogue."""

import functools

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.utils import formats

from preau.core.models import ClassGroup, Profile
from preau.core.prepared import PreparedQuery
from preau.ent.access import require, viewer
from preau.ent.views.common import back, confirm_page, form_page, paginate
from preau.news.forms import LinkForm, NewsForm
from preau.news.models import NewsItem, ResourceLink

PUBLISHERS = ("DIR", "EVS")


def for_audience(queryset, profile):
    """Rows addressed to everyone (empty audience) or to this profile."""
    return queryset.filter(Q(audience=[]) | Q(audience__contains=[profile]))


def for_reader(queryset, profile, class_ids):
    """News for this reader: addressed to their profile (or everyone) and to one of their
    classes (or every class)."""
    return for_audience(queryset, profile).filter(
        Q(class_ids=[]) | Q(class_ids__overlaps_any=class_ids)
    )


def reader_class_ids(request) -> list[int]:
    """The classes whose news a member reads: a teacher's classes taught, a pupil's own, a
    parent's children's (none for the other staff: news for classes are not theirs)."""
    me = viewer(request)
    return sorted(me.taught_class_ids() if me.profile == "ENS" else me.own_class_ids())


def visible_news(request):
    me = viewer(request)
    news = NewsItem.objects.for_request(request).select_related("author")
    if me.is_supervisor:
        return news
    return for_reader(news, me.profile, reader_class_ids(request))


def _latest_news(est, classes=None, profile=None):
    news = NewsItem.objects.filter(establishment_id=est).select_related("author")
    return (news if profile is None else for_reader(news, profile, classes))[:3]


# The dashboard's three latest news, compiled once per audience (preau.core.prepared): all of
# them for the direction and vie scolaire, else those for the profile and the reader's classes.
LATEST_NEWS: dict[str | None, PreparedQuery] = {
    profile: PreparedQuery(functools.partial(_latest_news, profile=profile), est=int, classes=list)
    for profile in ("ELV", "TUT", "ENS", "ETA")
}
LATEST_NEWS[None] = PreparedQuery(_latest_news, est=int)


def latest_news(request) -> list:
    me = viewer(request)
    if me.is_supervisor:
        return LATEST_NEWS[None].rows(est=request.establishment.pk)
    return LATEST_NEWS[me.profile].rows(
        est=request.establishment.pk, classes=reader_class_ids(request)
    )


def _news_form(request, *args, **kwargs) -> NewsForm:
    """The publishing form, offering this school year's classes of the establishment."""
    classes = ClassGroup.objects.for_request(request).filter(
        kind=ClassGroup.Kind.CLASS, school_year=viewer(request).year
    )
    return NewsForm(*args, classes=classes.values_list("pk", "name"), **kwargs)


def _with_targets(request, page):
    """Each item's `targets`: who it is for, in words ("Élève, Responsable · 5A, 4B")."""
    wanted = {pk for item in page for pk in item.class_ids}
    names = (
        dict(
            ClassGroup.objects.for_request(request).filter(pk__in=wanted).values_list("pk", "name")
        )
        if wanted
        else {}
    )
    for item in page:
        profiles = [Profile(p).label for p in item.audience]
        classes = sorted(names[pk] for pk in item.class_ids if pk in names)
        item.targets = " · ".join(", ".join(part) for part in (profiles, classes) if part)
    return page


def news(request, uai):
    me = viewer(request)
    can_publish = me.profile in PUBLISHERS
    form = _news_form(request, request.POST or None) if can_publish else None
    if request.method == "POST":
        require(can_publish)
        if form.is_valid():
            NewsItem.objects.create(
                establishment=request.establishment, author=request.user, **form.item_fields()
            )
            messages.success(request, "Actualité publiée.")
            return back(request, "news")
    return render(
        request,
        "news/news.html",
        {
            "page": _with_targets(request, paginate(request, visible_news(request), 10)),
            "form": form,
        },
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
    form = _news_form(request, request.POST or None, initial={**initial, "classes": item.class_ids})
    if request.method == "POST" and form.is_valid():
        fields = form.item_fields()
        for field, value in fields.items():
            setattr(item, field, value)
        item.save(update_fields=list(fields))
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

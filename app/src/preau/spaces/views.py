"""Collaborative spaces: one per class or group, with threads and shared files."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from preau.core.models import ClassGroup
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.views.common import back, class_or_404, paginate
from preau.spaces.forms import SpacePostForm, SpaceReplyForm
from preau.spaces.models import SpacePost

SPACE_PROFILES = ("ELV", "ENS", "DIR", "EVS")


def space_class_ids(request) -> set[int] | None:
    """Spaces the member takes part in (students: their classes and groups; teachers: what
    they teach); None = all (direction, vie scolaire). Parents have none."""
    me = viewer(request)
    if me.profile == "TUT":
        return set()
    return me.visible_class_ids()


def _in_space(request, class_id) -> bool:
    ids = space_class_ids(request)
    return ids is None or class_id in ids


def _post(request, form, class_group, thread=None):
    stored = (
        files.store(request.establishment, form.cleaned_data["file"], request.user)
        if form.cleaned_data.get("file")
        else None
    )
    return SpacePost.objects.create(
        establishment=request.establishment,
        class_group=class_group,
        thread=thread,
        author=request.user,
        title=form.cleaned_data.get("title", ""),
        body=form.cleaned_data["body"],
        file=stored,
    )


@profiles(*SPACE_PROFILES)
def spaces(request, uai):
    me = viewer(request)
    classes = ClassGroup.objects.for_request(request).filter(school_year=me.year)
    ids = space_class_ids(request)
    if ids is not None:
        classes = classes.filter(pk__in=ids)
    return render(request, "spaces/spaces.html", {"classes": classes})


@profiles(*SPACE_PROFILES)
def space(request, uai, class_id):
    class_group = class_or_404(request, class_id)
    require(_in_space(request, class_group.pk))
    form = SpacePostForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with files.atomic_upload(form, "file"):
            post = _post(request, form, class_group)
        if not form.errors:
            messages.success(request, "Discussion ouverte.")
            return back(request, "space_thread", post_id=post.pk)
    threads = (
        SpacePost.objects.for_request(request)
        .filter(class_group=class_group, thread=None)
        .select_related("author")
        .annotate(replies_count=Count("replies"))
        .order_by("-last_activity_at")
    )
    return render(
        request,
        "spaces/space.html",
        {"class_group": class_group, "form": form, "page": paginate(request, threads)},
        status=400 if request.method == "POST" else 200,
    )


@profiles(*SPACE_PROFILES)
def space_thread(request, uai, post_id):
    thread = get_object_or_404(
        SpacePost.objects.for_request(request)
        .filter(thread=None)
        .select_related("class_group", "author", "file"),
        pk=post_id,
    )
    require(_in_space(request, thread.class_group_id))
    form = SpaceReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with files.atomic_upload(form, "file"):
            _post(request, form, thread.class_group, thread=thread)
            SpacePost.objects.filter(pk=thread.pk).update(last_activity_at=timezone.now())
        if not form.errors:
            messages.success(request, "Réponse publiée.")
            return back(request, "space_thread", post_id=thread.pk)
    replies = thread.replies.select_related("author", "file")
    return render(
        request,
        "spaces/space_thread.html",
        {"thread": thread, "replies": replies, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def reads_space_file(request, stored) -> bool:
    """A file posted in a class or group space is read (preau.ent.views.files) by the members of
    that space."""
    spaces = space_class_ids(request)
    posts = SpacePost.objects.for_request(request).filter(file=stored)
    return posts.exists() if spaces is None else posts.filter(class_group_id__in=spaces).exists()

"""Collaborative spaces: one per class or group, with threads and shared files."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, render
from django.utils import formats, timezone

from preau.core.models import ClassGroup
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.views.common import back, class_or_404, confirm_page, form_page, paginate
from preau.spaces.forms import SpacePostEditForm, SpacePostForm, SpaceReplyForm
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
        {
            "thread": thread,
            "replies": replies,
            "form": form,
            "manages": manages_space(request, thread.class_group_id),
        },
        status=400 if request.method == "POST" else 200,
    )


def reads_space_file(request, stored) -> bool:
    """A file posted in a class or group space is read (preau.ent.views.files) by the members of
    that space."""
    spaces = space_class_ids(request)
    posts = SpacePost.objects.for_request(request).filter(file=stored)
    return posts.exists() if spaces is None else posts.filter(class_group_id__in=spaces).exists()


def manages_space(request, class_id) -> bool:
    """The space's managers (its class's teachers, the vie scolaire, the direction) delete any
    of its posts."""
    me = viewer(request)
    return me.is_supervisor or me.teaches(class_id)


def _own_post(request, post_id, managers: bool = False) -> SpacePost:
    """A post of a space the member takes part in, for its author (or, with `managers`, for
    the space's managers too)."""
    post = get_object_or_404(
        SpacePost.objects.for_request(request).select_related("thread"), pk=post_id
    )
    require(_in_space(request, post.class_group_id))
    require(
        post.author_id == request.user.pk
        or (managers and manages_space(request, post.class_group_id))
    )
    return post


@profiles(*SPACE_PROFILES)
def space_post_edit(request, uai, post_id):
    post = _own_post(request, post_id)
    is_thread = post.thread_id is None
    form = SpacePostEditForm(
        request.POST or None, thread=is_thread, initial={"title": post.title, "body": post.body}
    )
    thread_id = post.thread_id or post.pk
    if request.method == "POST" and form.is_valid():
        post.body = form.cleaned_data["body"]
        post.title = form.cleaned_data.get("title", post.title)
        post.save(update_fields=["title", "body"])
        messages.success(request, "Message modifié.")
        return back(request, "space_thread", post_id=thread_id)
    title = "Modifier la discussion" if is_thread else "Modifier votre réponse"
    return form_page(
        request, form, title, "Enregistrer les modifications", "space_thread", post_id=thread_id
    )


@profiles(*SPACE_PROFILES)
def space_post_delete(request, uai, post_id):
    """A confirmation page (GET), then the deletion (POST): a thread goes with its replies."""
    post = _own_post(request, post_id, managers=True)
    if request.method == "POST":
        post.delete()
        messages.success(
            request, "Discussion supprimée." if post.thread_id is None else "Message supprimé."
        )
        if post.thread_id is None:
            return back(request, "space", class_id=post.class_group_id)
        return back(request, "space_thread", post_id=post.thread_id)
    title, question, submit, back_kwargs = _deletion_question(post)
    return confirm_page(request, title, question, submit, "space_thread", **back_kwargs)


def _deletion_question(post) -> tuple:
    """confirm_page's title, question, button and way back for this post."""
    written = formats.date_format(post.created_at, "j F Y à H:i")
    if post.thread_id is None:
        replies = post.replies.count()
        return (
            "Supprimer une discussion",
            f"Supprimer la discussion « {post.title} » du {written}"
            + (f" et ses {replies} réponse(s) ?" if replies else " ?"),
            "Supprimer la discussion",
            {"post_id": post.pk},
        )
    return (
        "Supprimer un message",
        f"Supprimer le message du {written} dans la discussion « {post.thread.title} » ?",
        "Supprimer le message",
        {"post_id": post.thread_id},
    )

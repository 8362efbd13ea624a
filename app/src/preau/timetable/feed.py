"""The timetable as an iCalendar feed (issue #18 item 3): one secret URL per user, that a phone's
calendar subscribes to without a session. It holds the lessons the week grid shows that user (a
pupil's, a parent's children's, a teacher's own), in every establishment where the user is a
current member, from 2 weeks ago to 8 weeks ahead; a lesson cancelled on a date stays in it as
STATUS:CANCELLED (so that the phone removes it), a room change gives that day's room.

The token is never stored (CalendarFeed keeps its SHA-256, looked up by its unique index: no
comparison of secrets in Python) and never logged (MetricsMiddleware and the nginx role mask
the path's /calendrier/ segment)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import types
from zoneinfo import ZoneInfo

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from preau.core.display import subject
from preau.core.models import Establishment, Membership
from preau.ent.access import Viewer, profiles
from preau.timetable.models import CalendarFeed, WeekParity, parity_of
from preau.timetable.views import CHANGES, STUDENT_WEEK, TEACHER_WEEK

PARIS = ZoneInfo("Europe/Paris")
BEFORE, AFTER = dt.timedelta(weeks=2), dt.timedelta(weeks=8)
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet. Anything else is
# refused before any query.
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
PARITIES = (WeekParity.A, WeekParity.B)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(user) -> str:
    """A new secret for the user's feed, replacing (revoking) the previous one; the token is
    returned once, to be shown once."""
    token = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(
        user=user, defaults={"token_hash": digest(token), "created_at": timezone.now()}
    )
    return token


def _weeks(first: dt.date, last: dt.date):
    monday = first - dt.timedelta(days=first.weekday())
    while monday <= last:
        yield monday
        monday += dt.timedelta(days=7)


def _timetables(user, membership):
    """(prefix of the summaries, suffix of the UIDs, the lessons of weeks A, of weeks B) of what
    the week grid shows this member: one pair of the grid's own queries per pupil followed, or
    for the teacher. A parent of several children: their first names in the summaries, and
    their ids in the UIDs (two children of one class have their own events)."""
    est = membership.establishment_id
    if membership.profile == "ENS":
        yield "", "", *(TEACHER_WEEK.rows(est=est, teacher=user.pk, parity=p) for p in PARITIES)
        return
    request = types.SimpleNamespace(
        user=user, establishment=membership.establishment, membership=membership
    )
    who = Viewer(request)
    pupils = [user] if membership.profile == "ELV" else who.children()
    for pupil in pupils:
        classes = who.class_ids_of(pupil.pk)
        several = len(pupils) > 1
        prefix, suffix = (f"{pupil.first_name} : ", f"-{pupil.pk}") if several else ("", "")
        yield (
            prefix,
            suffix,
            *(STUDENT_WEEK.rows(est=est, classes=classes, parity=p) for p in PARITIES),
        )


def current_memberships(user) -> list[Membership]:
    """Where the feed reads: the user's current memberships in active establishments."""
    return list(
        Membership.objects.current()
        .filter(user=user, establishment__status=Establishment.Status.ACTIVE)
        .select_related("establishment")
    )


def calendar_of(user, memberships, today: dt.date) -> Calendar:
    """The user's feed: every lesson of the window in these establishments (a pupil's, a
    parent's, a teacher's; the other profiles have none), one VEVENT each (UID: lesson and
    date)."""
    first, last = today - BEFORE, today + AFTER
    calendar = Calendar()
    calendar.add("prodid", "-//Préau//Emploi du temps//FR")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Emploi du temps")
    stamp = timezone.now()
    for membership in memberships:
        if membership.profile not in ("ELV", "TUT", "ENS"):
            continue
        est = membership.establishment_id
        changes = {
            (change.slot_id, change.date): change
            for change in CHANGES.rows(est=est, first=first, last=last)
        }
        for prefix, suffix, week_a, week_b in _timetables(user, membership):
            for monday in _weeks(first, last):
                for slot in week_a if parity_of(monday) == WeekParity.A else week_b:
                    date = monday + dt.timedelta(days=slot.weekday - 1)
                    if not first <= date <= last:
                        continue
                    uid = f"cours-{slot.pk}-{date:%Y%m%d}{suffix}@preau"
                    change = changes.get((slot.pk, date))
                    calendar.add_component(_event(slot, date, change, prefix, uid, stamp))
    calendar.add_missing_timezones()
    return calendar


def _event(slot, date, change, prefix: str, uid: str, stamp: dt.datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", dt.datetime.combine(date, slot.start, tzinfo=PARIS))
    event.add("dtend", dt.datetime.combine(date, slot.end, tzinfo=PARIS))
    event.add("summary", f"{prefix}{subject(slot.subject)} ({slot.class_group.name})")
    room = change.room if change is not None and change.room else slot.room
    if room:
        event.add("location", room)
    if slot.teacher is not None:
        event.add("description", slot.teacher.get_full_name() or slot.teacher.username)
    if change is not None and change.cancelled:
        event.add("status", "CANCELLED")
    return event


def calendar_feed(request, token):
    """GET /calendrier/<token>.ics, without a session: 404 for a token of the wrong form, unknown
    or revoked, a deactivated user, or one who is no current member anywhere."""
    if not TOKEN.fullmatch(token):
        raise Http404
    feed = (
        CalendarFeed.objects.filter(token_hash=digest(token), user__is_active=True)
        .select_related("user")
        .first()
    )
    if feed is None:
        raise Http404
    memberships = current_memberships(feed.user)
    if not memberships:
        raise Http404
    calendar = calendar_of(feed.user, memberships, timezone.localdate())
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=900"
    return response


# The new link's one showing: from the POST to the GET it redirects to (Post/Redirect/Get),
# in the user's session, popped by that GET.
SHOW_ONCE = "timetable_feed_url"


@profiles("ELV", "TUT", "ENS")
def feed_page(request, uai):
    """The user's feed, found from the timetable page: what it is, then « Créer mon lien » or
    « Régénérer le lien » (a POST: this page is its confirmation). The POST redirects here
    (a reload never makes another link); the new URL is shown once, by the GET that follows,
    then is gone: only its hash is stored."""
    if request.method == "POST":
        token = new_token(request.user)
        path = reverse("calendar_feed", kwargs={"token": token})
        request.session[SHOW_ONCE] = request.build_absolute_uri(path)
        return redirect("timetable_feed", uai=uai)
    context = {
        "created_at": CalendarFeed.objects.filter(user=request.user)
        .values_list("created_at", flat=True)
        .first()
    }
    feed_url = request.session.pop(SHOW_ONCE, None)
    if feed_url:
        context.update(feed_url=feed_url, webcal="webcal://" + feed_url.split("://", 1)[1])
    response = render(request, "timetable/timetable_feed.html", context)
    if feed_url:
        response["Cache-Control"] = "no-store"
    return response

"""The platform operators' console (`/console/`): establishments, an account search across
them, usage statistics. Platform operators (ADMC) only; the second factor is required by
preau.twofactor.policy.SecondFactorMiddleware as on every page of an ADMC. Every lookup of
accounts is audited (preau.core.accounts.audit): who looked up whom, with which query."""

from __future__ import annotations

import csv
import json
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from preau.console import charts
from preau.console.forms import AccountSearchForm, StatsForm
from preau.console.models import UsageStat
from preau.console.usage import SERVICES
from preau.core import accounts as account_rules
from preau.core.models import Establishment, Membership, OperationLog, Profile, User
from preau.ent.files import size_label
from preau.ent.models import StoredFile

# What the AAF brings: a complete import (command import_aaf) or a delta delivery (job).
IMPORT_KINDS = ("import_aaf", "aaf_delta")
STAFF = ("ENS", "DIR", "EVS", "ETA")
SEARCH_LIMIT = 50


def operator_required(view):
    """Platform operators only: anonymous visitors go to the login, anyone else gets a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_platform_admin:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return require_GET(wrapper)


# --- establishments ----------------------------------------------------------------------------

# ?tri= → the row's value it sorts on (each column of the table).
SORTS = {
    "uai": lambda e: e.uai,
    "nom": lambda e: e.name.lower(),
    "eleves": lambda e: e.pupils,
    "parents": lambda e: e.parents,
    "personnels": lambda e: e.staff,
    "actives": lambda e: e.activated_percent,
    "import": lambda e: e.last_import_at.timestamp() if e.last_import_at else 0,
    "fichiers": lambda e: e.files_bytes,
}


SORT_LABELS = {
    "uai": "UAI",
    "nom": "Nom",
    "eleves": "Élèves",
    "parents": "Parents",
    "personnels": "Personnels",
    "actives": "Comptes activés",
    "import": "Dernier import AAF",
    "fichiers": "Fichiers (quota)",
}


def establishment_rows():
    """Every establishment (merged ones are aliases of another) with its counts, in one query:
    current members per profile group, accounts activated (a usable password), the last AAF
    import, the bytes of its files."""
    current = Q(memberships__gone_since__isnull=True, memberships__disabled=False)
    last_import = OperationLog.objects.filter(
        establishment=OuterRef("pk"), kind__in=IMPORT_KINDS
    ).order_by("-at")
    files = (
        StoredFile.objects.filter(establishment=OuterRef("pk"))
        .order_by()
        .values("establishment")
        .annotate(total=Sum("size"))
        .values("total")
    )
    rows = list(
        Establishment.objects.exclude(status=Establishment.Status.MERGED).annotate(
            pupils=Count("memberships", filter=current & Q(memberships__profile="ELV")),
            parents=Count("memberships", filter=current & Q(memberships__profile="TUT")),
            staff=Count("memberships", filter=current & Q(memberships__profile__in=STAFF)),
            members=Count("memberships", filter=current),
            activated=Count(
                "memberships", filter=current & ~Q(memberships__user__password__startswith="!")
            ),
            last_import_id=Subquery(last_import.values("pk")[:1]),
            last_import_at=Subquery(last_import.values("at")[:1]),
            files_bytes=Subquery(files[:1]),
        )
    )
    limit = settings.PREAU_UPLOAD_ESTABLISHMENT_QUOTA_BYTES
    for row in rows:
        row.files_bytes = row.files_bytes or 0
        row.activated_percent = round(100 * row.activated / row.members) if row.members else 0
        row.files_label = size_label(row.files_bytes) if row.files_bytes else "0 ko"
        row.quota_percent = round(100 * row.files_bytes / limit, 1) if limit else 0
    return rows


@operator_required
def establishments(request):
    sort = request.GET.get("tri", "uai")
    if sort not in SORTS:
        sort = "uai"
    descending = request.GET.get("ordre") == "desc"
    rows = sorted(establishment_rows(), key=SORTS[sort], reverse=descending)
    return render(
        request,
        "console/establishments.html",
        {
            "rows": rows,
            "sort": sort,
            "sorts": SORT_LABELS.items(),
            "descending": descending,
            "quota_label": size_label(settings.PREAU_UPLOAD_ESTABLISHMENT_QUOTA_BYTES),
        },
    )


@operator_required
def operation(request, operation_id):
    """An import's report as the import left it (OperationLog.summary)."""
    entry = get_object_or_404(
        OperationLog.objects.select_related("establishment"),
        pk=operation_id,
        kind__in=IMPORT_KINDS,
    )
    summary = entry.summary
    facts = [(key, value) for key, value in summary.items() if not isinstance(value, list | dict)]
    details = [
        (key, json.dumps(value, ensure_ascii=False, indent=2))
        for key, value in summary.items()
        if isinstance(value, list | dict)
    ]
    return render(
        request, "console/operation.html", {"entry": entry, "facts": facts, "details": details}
    )


# --- accounts ----------------------------------------------------------------------------------


def _audit_lookup(action: str, request, users_by_establishment: dict, **details) -> None:
    """One audit entry per establishment whose accounts were looked up (its OperationLog shows
    it), or a line alone when none was."""
    by = request.user.username
    if not users_by_establishment:
        account_rules.audit(action, None, [], by=by, via="console", details=details)
    for establishment, users in users_by_establishment.items():
        account_rules.audit(action, establishment, users, by=by, via="console", details=details)


@operator_required
def accounts(request):
    form = AccountSearchForm(request.GET or None)
    results, total = [], 0
    if form.is_valid():
        query = form.cleaned_data["q"]
        found = account_rules.search_users(
            Membership.objects.select_related("user", "establishment"), query
        ).order_by("user__last_name", "user__first_name", "establishment__uai")
        total = found.count()
        results = list(found[:SEARCH_LIMIT])
        seen: dict = {}
        for membership in results:
            users = seen.setdefault(membership.establishment, [])
            if membership.user not in users:
                users.append(membership.user)
        _audit_lookup("console_search", request, seen, query=query)
    return render(
        request,
        "console/accounts.html",
        {"form": form, "results": results, "total": total, "limit": SEARCH_LIMIT},
    )


@operator_required
def account(request, user_id):
    person = get_object_or_404(User, pk=user_id)
    memberships = list(
        Membership.objects.filter(user=person)
        .select_related("establishment")
        .order_by("establishment__uai")
    )
    _audit_lookup(
        "console_account",
        request,
        {m.establishment: [person] for m in memberships},
        account=person.username,
    )
    return render(request, "console/account.html", {"person": person, "memberships": memberships})


# --- statistics --------------------------------------------------------------------------------

CSV_COLUMNS = [
    "Période",
    "Début",
    "UAI",
    "Établissement",
    "Profil",
    "Service",
    "Visiteurs distincts",
    "Visites",
]
PROFILES = dict(Profile.choices)


def _stats(form):
    """The aggregates the form asks for (a day's by default), oldest first."""
    data = form.cleaned_data if form.is_valid() else {}
    rows = UsageStat.objects.filter(period=data.get("periode") or UsageStat.Period.DAY)
    if data.get("etablissement"):
        rows = rows.filter(uai=data["etablissement"])
    if data.get("profil"):
        rows = rows.filter(profile=data["profil"])
    return rows.order_by("start", "uai", "profile", "service")


def _service_label(key: str) -> str:
    return SERVICES.get(key, key) if key else "Tous services"


# The page shows this many of the latest periods (the CSV has them all).
SHOWN_PERIODS = 31


@operator_required
def statistics(request):
    """Summed in the database, whatever the number of establishments: visits and visitors per
    period (the chart and its table) over the latest SHOWN_PERIODS periods, visits per service
    over them, and the latest period per establishment and profile."""
    form = StatsForm(request.GET or None)
    chosen = _stats(form).order_by()
    starts = list(
        chosen.values_list("start", flat=True).distinct().order_by("-start")[:SHOWN_PERIODS]
    )
    shown = chosen.filter(start__gte=starts[-1]) if starts else chosen.none()
    series = [
        (row["start"], row["visits"], row["visitors"])
        for row in shown.filter(service="")
        .values("start")
        .annotate(visits=Sum("visits"), visitors=Sum("visitors"))
        .order_by("start")
    ]
    services = (
        shown.exclude(service="")
        .values("service")
        .annotate(visits=Sum("visits"))
        .order_by("-visits", "service")
    )
    latest = shown.filter(service="", start=starts[0]).order_by("uai", "profile") if starts else []
    return render(
        request,
        "console/statistics.html",
        {
            "form": form,
            "series": series,
            "services": [(_service_label(r["service"]), r["visits"]) for r in services],
            "latest": latest,
            "names": dict(Establishment.objects.values_list("uai", "name")),
            "profiles": PROFILES,
            "chart": charts.bars(
                [(start.strftime("%d/%m/%Y"), visits) for start, visits, _ in series],
                title="Visites par période",
            ),
            "query": request.GET.urlencode(),
            "retention": settings.RETENTION,
        },
    )


class _Echo:
    """A file whose write() returns what it is given: csv.writer then yields lines."""

    def write(self, value):
        return value


@operator_required
def statistics_csv(request):
    """The same figures as the page, all services and per service, as a CSV (streamed:
    it reads rows as it writes them). `;` and a BOM: what a French spreadsheet opens."""
    form = StatsForm(request.GET or None)
    names = dict(Establishment.objects.values_list("uai", "name"))
    writer = csv.writer(_Echo(), delimiter=";")

    def lines():
        yield "\ufeff" + writer.writerow(CSV_COLUMNS)
        for r in _stats(form).iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    r.get_period_display(),
                    r.start.isoformat(),
                    r.uai,
                    names.get(r.uai, ""),
                    PROFILES.get(r.profile, r.profile),
                    _service_label(r.service),
                    "" if r.visitors is None else r.visitors,
                    r.visits,
                ]
            )

    period = form.cleaned_data.get("periode") if form.is_valid() else ""
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, f"statistiques-{period or 'jour'}.csv"
    )
    response["Cache-Control"] = "no-store"
    return response

"""The operators' console (preau.console): who reaches it, what the establishments table
counts, the account search across establishments and its audit, the statistics page and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from preau.console.models import UsageStat
from preau.core.models import Membership, OperationLog, User
from preau.ent.models import StoredFile
from tests.helpers import make_establishment
from tests.test_isolation import all_patterns

pytestmark = pytest.mark.django_db


def member(est, username, profile, *, first="", last="", admin=False, password=None):
    user = User.objects.create_user(username, password, first_name=first, last_name=last)
    Membership.objects.create(user=user, establishment=est, profile=profile, is_local_admin=admin)
    return user


@pytest.fixture
def platform():
    """Two establishments with a few accounts each, and an operator (ADMC)."""
    a = make_establishment("0820021C", name="Collège Jean Moulin")
    b = make_establishment("0820010R", name="Collège Olympe de Gouges", town="Castelsarrasin")
    people = {
        "admin": member(a, "castex.helene", "DIR", first="Hélène", last="CASTEX", admin=True),
        "teacher": member(a, "fabre.paul", "ENS", first="Paul", last="FABRE"),
        "pupil": member(a, "escande.zoe", "ELV", first="Zoé", last="ESCANDE", password="x" * 12),
        "pupil2": member(a, "martin.leo", "ELV", first="Léo", last="MARTIN"),
        "parent": member(a, "escande.laure", "TUT", first="Laure", last="ESCANDE"),
        "gone": member(a, "parti.jean", "ELV", first="Jean", last="PARTI"),
        "other": member(b, "castex.helene2", "ENS", first="Helene", last="CASTEX"),
    }
    Membership.objects.filter(user=people["gone"]).update(gone_since="2026-01-01")
    people["operator"] = User.objects.create_superuser("admc", "mot-de-passe-long-2")
    return {"A": a, "B": b, **people}


def table_rows(body: str) -> list[list[str]]:
    """The cells' texts of each body row of the page's tables (tags removed)."""
    bodies = "".join(re.findall(r"<tbody>(.*?)</tbody>", body, re.S))
    rows = re.findall(r"<tr>(.*?)</tr>", bodies, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def console_urls(w, operation_id) -> list[str]:
    kwargs = {"operation_id": operation_id, "user_id": w["pupil"].pk}
    return [
        reverse(name, kwargs={k: kwargs[k] for k in converters})
        for name, route, converters in all_patterns()
        if route.startswith("console/")
    ]


def test_only_operators_reach_the_console(client, platform):
    w = platform
    report = OperationLog.objects.create(establishment=w["A"], kind="import_aaf", summary={})
    urls = console_urls(w, report.pk)
    assert len(urls) == 6
    for url in urls:
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    for role in ("admin", "teacher", "pupil"):
        client.force_login(w[role])
        for url in urls:
            assert client.get(url).status_code == 403, (role, url)
    client.force_login(w["operator"])
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_console_needs_the_second_factor(platform):
    """Logged in without the second factor, an operator is sent to it, like on any page."""
    plain = Client()
    plain.force_login(platform["operator"])
    response = plain.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/compte/double-authentification/activer/")


def test_establishments_table_counts(client, platform):
    w = platform
    report = OperationLog.objects.create(
        establishment=w["A"], kind="import_aaf", summary={"created": 5, "errors": ["aucune"]}
    )
    OperationLog.objects.create(
        establishment=w["A"], kind="import_aaf", summary={}, at=timezone.now() - dt.timedelta(1)
    )
    StoredFile.objects.create(
        establishment=w["A"],
        name="a.pdf",
        content_type="application/pdf",
        size=3 * 1024**2,
        sha256="0" * 64,
    )
    client.force_login(w["operator"])
    page = client.get("/console/?tri=eleves&ordre=desc")
    body = page.content.decode()
    rows = table_rows(body)
    # A first (2 pupils), then B (none). Current members of A: 2 pupils (the gone one is not),
    # a parent, two staff; one activated (a password) of 5.
    assert rows == [
        [
            "0820021C",
            "Collège Jean Moulin",
            "2",
            "1",
            "2",
            "20 % (1 sur 5)",
            rows[0][6],
            "3,0 Mo (0,0 %)",
        ],
        [
            "0820010R",
            "Collège Olympe de Gouges",
            "0",
            "0",
            "1",
            "0 % (0 sur 1)",
            "aucun",
            "0 ko (0,0 %)",
        ],
    ]
    assert rows[0][6].endswith("rapport de l'import de Collège Jean Moulin")
    assert f'href="/console/operations/{report.pk}/"' in body and 'aria-sort="descending"' in body
    ascending = table_rows(client.get("/console/?tri=eleves").content.decode())
    assert [row[0] for row in ascending] == ["0820010R", "0820021C"]
    detail = client.get(f"/console/operations/{report.pk}/").content.decode()
    assert "created" in detail and "aucune" in detail
    # Another kind of operation is not an import report.
    merge = OperationLog.objects.create(establishment=w["A"], kind="merge", summary={})
    assert client.get(f"/console/operations/{merge.pk}/").status_code == 404


def test_account_search_across_establishments_is_audited(
    client, platform, caplog, django_capture_on_commit_callbacks
):
    w = platform
    client.force_login(w["operator"])
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        page = client.get("/console/comptes/", {"q": "HELENE cast"})
    found = {(row[1], row[2], row[3]) for row in table_rows(page.content.decode())}
    assert found == {
        ("castex.helene", "0820021C Collège Jean Moulin", "Direction (admin.)"),
        ("castex.helene2", "0820010R Collège Olympe de Gouges", "Enseignant"),
    }
    rows = OperationLog.objects.filter(kind="console_search").order_by("establishment__uai")
    assert [(r.establishment.uai, r.summary["users"], r.summary["query"]) for r in rows] == [
        ("0820010R", ["castex.helene2"], "HELENE cast"),
        ("0820021C", ["castex.helene"], "HELENE cast"),
    ]
    assert {r.summary["by"] for r in rows} == {"admc"}
    lines = [r for r in caplog.records if r.name == "preau.audit"]
    assert {(r.establishment, r.query, r.by) for r in lines} == {
        ("0820010R", "HELENE cast", "admc"),
        ("0820021C", "HELENE cast", "admc"),
    }

    # A search that finds nobody is still written (the line: no establishment to file it in).
    caplog.clear()
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        body = client.get("/console/comptes/", {"q": "personne"}).content.decode()
    assert "0 résultat." in body
    [line] = [r for r in caplog.records if r.name == "preau.audit"]
    assert (line.action, line.query, line.establishment) == ("console_search", "personne", "")

    # Opening an account: one row in each of its establishments.
    page = client.get(f"/console/comptes/{w['pupil'].pk}/")
    assert "Collège Jean Moulin" in page.content.decode()
    [opened] = OperationLog.objects.filter(kind="console_account")
    assert (opened.establishment, opened.summary["users"]) == (w["A"], ["escande.zoe"])
    # An account of no establishment: the line alone, naming it.
    caplog.clear()
    with (
        caplog.at_level(logging.INFO, logger="preau.audit"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert client.get(f"/console/comptes/{w['operator'].pk}/").status_code == 200
    [line] = [r for r in caplog.records if r.name == "preau.audit"]
    assert (line.action, line.account, line.by) == ("console_account", "admc", "admc")


def test_account_search_refuses_a_short_query_in_french(client, platform):
    client.force_login(platform["operator"])
    page = client.get("/console/comptes/", {"q": "a"})
    assert page.status_code == 200
    assert "Saisissez au moins 2 caractères." in page.content.decode()
    assert not OperationLog.objects.filter(kind="console_search").exists()


@pytest.fixture
def stats():
    day = dt.date(2026, 12, 2)
    rows = [
        ("jour", day, "0820021C", "ELV", "", 2, 3),
        ("jour", day, "0820021C", "ELV", "messaging", 1, 2),
        ("jour", day, "0820021C", "ENS", "", 1, 1),
        ("mois", dt.date(2026, 12, 1), "0820021C", "ELV", "", 2, 4),
    ]
    for period, start, uai, profile, service, visitors, visits in rows:
        UsageStat.objects.create(
            period=period,
            start=start,
            uai=uai,
            profile=profile,
            service=service,
            visitors=visitors,
            visits=visits,
        )


def test_statistics_page_chart_and_table(client, platform, stats):
    client.force_login(platform["operator"])
    body = client.get("/console/statistiques/", {"periode": "jour"}).content.decode()
    assert '<svg class="chart"' in body and "02/12/2026 : 4</title>" in body  # 3 + 1 visits
    assert '<td data-label="Visites">4</td>' in body  # the same number in the table
    assert "Messagerie" in body
    month = client.get("/console/statistiques/", {"periode": "mois", "profil": "ELV"})
    assert ["01/12/2026", "0820021C Collège Jean Moulin", "Élève", "2", "4"] in table_rows(
        month.content.decode()
    )
    wrong = client.get("/console/statistiques/", {"periode": "année"})
    assert wrong.status_code == 200 and "Sélectionnez un choix valide" in wrong.content.decode()


def test_statistics_csv(client, platform, stats):
    client.force_login(platform["operator"])
    response = client.get("/console/statistiques/export.csv", {"periode": "jour"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="statistiques-jour.csv"'
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows == [
        [
            "Période",
            "Début",
            "UAI",
            "Établissement",
            "Profil",
            "Service",
            "Visiteurs distincts",
            "Visites",
        ],
        [
            "Jour",
            "2026-12-02",
            "0820021C",
            "Collège Jean Moulin",
            "Élève",
            "Tous services",
            "2",
            "3",
        ],
        ["Jour", "2026-12-02", "0820021C", "Collège Jean Moulin", "Élève", "Messagerie", "1", "2"],
        [
            "Jour",
            "2026-12-02",
            "0820021C",
            "Collège Jean Moulin",
            "Enseignant",
            "Tous services",
            "1",
            "1",
        ],
    ]

"""Bad input never gives a 500 (issue #16, item 7): every URL of the URLconf, for every
profile, with bad query parameters, ids too large for PostgreSQL's integers, and every field
of its forms posted with bad values. New URLs and forms are covered automatically; a new query
parameter read by a view must be added to QUERY_PARAMETERS (a test checks the sources)."""

import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import preau
from preau.ent.models import StoredFile
from preau.grades.models import Grade
from preau.jobs.queue import QUEUES
from tests.school import url_kwargs
from tests.test_isolation import _patterns, build

BAD_VALUES = [
    "abc",
    "-1",
    "0",
    "999999",
    "99999999999999999999999",
    "nan",
    "inf",
    "1e400",
    "15,5",
    "2026-02-30",
    "25:61",
    "a\x00b",
    "\x00",
    "é" * 3000,
    "",
]
# Every query parameter a view reads (request.GET): name -> a few bad values of it.
QUERY_PARAMETERS = {
    "page": ["abc", "0", "-1", "999999", "99999999999999999999999", "1e3", "\x00"],
    "eleve": ["abc", "99999999999999999999999", "\x00"],
    "q": ["\x00", "%", "é" * 3000],
    "classe": ["99999999999999999999999", "\x00", "abc"],
    "a": ["99999999999999999999999", "abc", "\x00"],
    "next": ["https://evil.example/", "\x00", "//evil.example"],
    "profile": ["\x00", "XYZ"],
    "depuis": ["99999999999999999999999", "\x00", "abc", "²", "0"],
    "semaine": ["9999-12-31", "0001-01-01", "2026-02-30", "\x00", "abc"],
    "date": ["9999-12-31", "0001-01-01", "2026-02-30", "\x00", "abc"],
    # The CAS server's (preau.cas): service URLs, tickets, the protocol's flags.
    "service": ["http://evil.example/", "https://", "javascript:alert(1)", "é" * 3000, "\x00"],
    "ticket": ["ST-", "ST-" + "x" * 300, "abc", "\x00"],
    "renew": ["true", "\x00", "é" * 300],
    "gateway": ["true", "\x00"],
    # The operators' console's sort of its establishments (preau.console).
    "tri": ["\x00", "inconnu", "é" * 3000],
    "ordre": ["\x00", "desc", "x"],
    "voir": ["classe-99999999999999999999999", "enseignant-abc", "salle-\x00", "\x00", "x"],
    # The GAR's IdP: the signed token of a checked request (sso/reprise/).
    "t": ["\x00", "abc:def", "é" * 3000],
}
HUGE_IDS = ["9223372036854775808", "99999999999999999999999"]
# One user of each profile (and the local admin), enough to reach every page and form.
ROLES = ("admin", "teacher", "student", "parent", "evs", "agent")


class FormFields(HTMLParser):
    """The names of the fields of the page's POST forms (hidden ones included)."""

    def __init__(self):
        super().__init__()
        self.in_post, self.names = False, set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.in_post = (attrs.get("method") or "").lower() == "post"
        elif self.in_post and tag in ("input", "select", "textarea") and attrs.get("name"):
            self.names.add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_post = False


def form_fields(html: str) -> set[str]:
    parser = FormFields()
    parser.feed(html)
    return parser.names - {"csrfmiddlewaretoken"}


def answer(client, method, url, data=None):
    """The status of a request; an exception inside the view is reported as a 500."""
    try:
        return getattr(client, method)(url, data).status_code
    except Exception as exc:  # noqa: BLE001 (the test client re-raises the view's exception)
        return f"500 ({type(exc).__name__}: {str(exc)[:120]})"


def urls_of(s):
    for name, _route, converters in _patterns():
        if name not in ("logout", "cas_logout"):  # they would end the role's session
            yield name, build(name, converters, s, s), converters


def test_every_query_parameter_read_by_a_view_is_fuzzed():
    sources = Path(preau.__file__).parent.rglob("*.py")
    read = {
        name
        for path in sources
        for name in re.findall(
            r"\bGET(?:\.get|\.getlist|\[)\(?\s*[\"'](\w+)", path.read_text(encoding="utf-8")
        )
    }
    assert read and read <= set(QUERY_PARAMETERS), read - set(QUERY_PARAMETERS)


def bad_queries():
    """Every query parameter with each of its bad values, several parameters per request."""
    longest = max(len(values) for values in QUERY_PARAMETERS.values())
    return [
        {name: values[i % len(values)] for name, values in QUERY_PARAMETERS.items()}
        for i in range(longest)
    ]


def test_bad_query_parameters_and_huge_ids(client, school):
    failures = []
    for role in (None, *ROLES):
        client.logout()
        if role:
            client.force_login(school[role])
        for name, url, converters in urls_of(school):
            if answer(client, "get", url) == 200:  # else refused before any parameter is read
                for query in bad_queries():
                    status = answer(client, "get", url, query)
                    if str(status).startswith("5"):
                        failures.append(f"{role}: GET {url} {query} -> {status}")
            for kwarg in set(converters) - {"uai"}:
                for huge in HUGE_IDS:
                    bad = reverse(
                        name, kwargs={**{k: url_kwargs(school)[k] for k in converters}, kwarg: huge}
                    )
                    for method in ("get", "post"):
                        status = answer(client, method, bad)
                        if str(status).startswith("5"):
                            failures.append(f"{role}: {method.upper()} {bad} -> {status}")
    assert not failures, "\n".join(failures)


def test_bad_establishment_codes(client, school):
    client.force_login(school["admin"])
    for uai in ("%00", "x" * 300, "0000000A", "..", "%C3%A9", "0820021C%00"):
        status = answer(client, "get", f"/e/{uai}/")
        assert status in (302, 400, 403, 404), (uai, status)
    client.cookies["sessionid"] = "abc\x00def"
    assert answer(client, "get", reverse("home")) == 400


def test_every_form_field_posted_with_bad_values(client, school):
    failures, forms_seen = [], set()
    for role in (None, *ROLES):
        client.logout()
        if role:
            client.force_login(school[role])
        for _name, url, _ in urls_of(school):
            page = client.get(url)
            if page.status_code != 200 or page.streaming:
                continue
            fields = form_fields(page.content.decode())
            if not fields or (url, frozenset(fields)) in forms_seen:
                continue
            forms_seen.add((url, frozenset(fields)))
            for value in BAD_VALUES:
                status = answer(client, "post", url, dict.fromkeys(fields, value))
                if str(status).startswith("5"):
                    failures.append(
                        f"{role}: POST {url} {sorted(fields)} = {value[:20]!r} -> {status}"
                    )
                if role and not client.session.get("_auth_user_id"):
                    client.force_login(school[role])
    assert len(forms_seen) >= 15, forms_seen
    assert not failures, "\n".join(failures)


UPLOAD_NAMES = [
    "a\x00b.pdf",
    "x" * 600 + ".pdf",
    ".pdf",
    "sans-extension",
    "cours\u202efdp.exe",
    "../../etc/passwd.pdf",
    "CON.pdf",
    " .pdf",
]


def test_uploads_with_bad_file_names(client, school):
    """Every form with a file field, each of its file fields given a file with a bad name."""
    failures, forms = [], 0
    for role in ROLES:
        client.force_login(school[role])
        for _name, url, _ in urls_of(school):
            page = client.get(url)
            if (
                page.status_code != 200
                or page.streaming
                or 'type="file"' not in page.content.decode()
            ):
                continue
            html = page.content.decode()
            uploads = set(re.findall(r'<input type="file" name="(\w+)"', html)) or set(
                re.findall(r'name="(\w+)"[^>]*type="file"', html)
            )
            forms += 1
            for filename in UPLOAD_NAMES:
                data = dict.fromkeys(form_fields(html) - uploads, "1")
                data.update(
                    {field: SimpleUploadedFile(filename, b"%PDF-1.4 x\n") for field in uploads}
                )
                status = answer(client, "post", url, data)
                if str(status).startswith("5"):
                    failures.append(f"{role}: POST {url} file {filename[:20]!r} -> {status}")
    assert forms >= 4
    assert not failures, "\n".join(failures)
    long_names = StoredFile.objects.filter(name__startswith="x" * 100).values_list(
        "name", flat=True
    )
    assert long_names and all(len(n) == 200 and n.endswith(".pdf") for n in long_names)


def post_grades(client, s, value, other):
    """The assessment's teacher enters `value` for Léa and `other` for the other student."""
    client.force_login(s["teacher"])
    grid = reverse("assessment", kwargs={"uai": s["est"].uai, "assessment_id": s["assessment"].pk})
    return client.post(
        grid, {f"note_{s['student'].pk}": value, f"note_{s['other_student'].pk}": other}
    )


@pytest.mark.parametrize(
    "value, error",
    [
        ("nan", "n'est pas un nombre"),
        ("inf", "n'est pas un nombre"),
        ("-inf", "n'est pas un nombre"),
        ("1e400", "n'est pas un nombre"),
        ("abc", "n'est pas un nombre"),
        ("1" * 400, "n'est pas un nombre"),
        ("-1", "doit être entre 0 et 20"),
        ("21/20", "doit être entre 0 et 20"),
        ("20,01", "doit être entre 0 et 20"),
        ("99999999999999999999999", "doit être entre 0 et 20"),
        ("12/10", "doit être donnée sur 20"),
        ("١٥", "n'est pas un nombre"),
        ("12.5.1", "n'est pas un nombre"),
    ],
)
def test_a_bad_grade_is_a_form_error_next_to_its_line(client, school, value, error):
    s = school
    response = post_grades(client, s, value, "12")
    assert response.status_code == 400
    line = re.search(
        rf'<p class="error" id="note_{s["student"].pk}_erreur">(.*?)</p>', response.content.decode()
    )
    assert line and line[1] == f"La note de Léa MARTIN {error}".replace("'", "&#39;") + (
        " (par exemple 12,5) ni « abs » (absent), « disp » (dispensé), « nrdu » (non rendu), "
        "« inap » (inapte) ou « nnot » (non noté)."
        if error == "n'est pas un nombre"
        else "."
    )
    assert sorted(
        Grade.objects.filter(assessment=s["assessment"]).values_list("value", flat=True)
    ) == [9, 15]


@pytest.mark.parametrize(
    "value, saved",
    [
        ("15,5", Decimal("15.50")),
        (" 15.5 ", Decimal("15.50")),
        ("12,5/20", Decimal("12.50")),
        ("20", Decimal("20.00")),
        ("0", Decimal("0.00")),
        ("13,257", Decimal("13.26")),
    ],
)
def test_grades_typed_the_french_way_are_saved(client, school, value, saved):
    s = school
    assert post_grades(client, s, value, "9").status_code == 302
    assert Grade.objects.get(assessment=s["assessment"], student=s["student"]).value == saved


def test_metrics_labels_stay_bounded(client, school):
    """Whatever a client sends (any word as its method, any path), the metrics' label values
    come from short lists known in advance: methods, URL names, status codes, results."""
    client.force_login(school["student"])
    tokens = [f"ZZ{n}METHOD" for n in range(3)] + [f"zzpath{n}" for n in range(3)]
    for n in range(3):
        client.generic(f"ZZ{n}METHOD", "/healthz")
        client.generic(f"ZZ{n}METHOD", f"/e/{school['est'].uai}/")
        client.get(f"/e/{school['est'].uai}/zzpath{n}/")
        client.get(f"/zzpath{n}")
    text = client.get("/metrics").content.decode()
    assert not [token for token in tokens if token in text]
    names = {name for name, _, _ in _patterns()} | {"unmatched"}
    for metric, labels in re.findall(r"^(preau_\w+)\{(.*)\} ", text, re.M):
        for label, value in re.findall(r'(\w+)="([^"]*)"', labels):
            allowed = {
                "method": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"},
                "view": names,
                "status": {str(code) for code in range(100, 600)},
                "le": None,
                "result": {
                    *("ok", "failed", "throttled", "rejected", "dry_run", "sent"),
                    *("pending", "skipped"),  # the AAF deltas' (preau.core.delta)
                },
                "kind": {"import_aaf", "import_csv", "aaf_delta", "import_timetable"},
                "queue": set(QUEUES),  # the job queue's (preau.jobs.queue)
            }
            assert label in allowed, (metric, label)
            assert allowed[label] is None or value in allowed[label], (metric, label, value)

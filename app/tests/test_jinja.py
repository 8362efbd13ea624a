"""preau.core.jinja: the templates' environment keeps Django's output (filters, printed values,
missing variables), remembers url/date/time, and in strict mode refuses a method not called."""

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.template import engines
from django.template.defaultfilters import date as django_date
from django.template.defaultfilters import time as django_time
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from preau.core import jinja


def render(source, **context):
    return engines["jinja2"].from_string(source).render(context)


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2026, 11, 30),
        dt.date(2027, 2, 1),
        dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 14, 9, 5),
        None,
        "",
    ],
)
@pytest.mark.parametrize("fmt", ["l j F", "D j M", "j F Y", "j F H:i", "d/m/Y", None])
def test_date_is_djangos(value, fmt):
    with translation.override("fr"), timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        try:
            expected = django_date(timezone.template_localtime(value), fmt)
        except TypeError:  # Django refuses a time format for a date: so does the remembered filter
            with pytest.raises(TypeError):
                render("{{ v|date(f) }}", v=value, f=fmt)
            return
        assert render("{{ v|date(f) }}", v=value, f=fmt) == expected
        assert render("{{ v|date(f) }}", v=value, f=fmt) == expected  # remembered


def test_date_follows_language_and_time_zone():
    moment = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        with translation.override("fr"):
            assert render('{{ v|date("l j F H:i") }}', v=moment) == "lundi 30 novembre 00:30"
        with translation.override("en"):
            assert render('{{ v|date("l j F H:i") }}', v=moment) == "Monday 30 November 00:30"
    with timezone.override(zoneinfo.ZoneInfo("America/Cayenne")), translation.override("fr"):
        assert render('{{ v|date("l j F H:i") }}', v=moment) == "dimanche 29 novembre 20:30"


def test_time_is_djangos():
    for value in (dt.time(8, 5), dt.time(17, 0), None):
        assert render('{{ v|time("H:i") }}', v=value) == django_time(value, "H:i")
    assert render('{{ v|time("H:i") }}', v=dt.time(8, 5)) == "08:05"


@pytest.mark.django_db
def test_url_is_djangos_and_remembered(monkeypatch):
    jinja._reverse.cache_clear()  # nothing remembered yet: other tests' pages may have asked for these URLs
    source = (
        "{{ url('homework', uai=uai, homework_id=pk) }}|{{ url('home') }}|{{ url('grades', uai) }}"
    )
    expected = "|".join(
        [
            reverse("homework", kwargs={"uai": "0820021C", "homework_id": 7}),
            reverse("home"),
            reverse("grades", args=["0820021C"]),
        ]
    )
    assert render(source, uai="0820021C", pk=7) == expected
    calls = []
    monkeypatch.setattr(jinja, "reverse", lambda *a, **k: calls.append(a) or "/not-called/")
    try:
        assert render(source, uai="0820021C", pk=7) == expected and calls == []
        assert (
            render("{{ url('homework', uai=uai, homework_id=pk) }}", uai="0820021C", pk=8)
            == "/not-called/"
        )
    finally:
        jinja._reverse.cache_clear()  # forget the fake URL


@pytest.mark.django_db
def test_an_unknown_url_is_an_error():
    with pytest.raises(NoReverseMatch):
        render("{{ url('no-such-view') }}")


class Unhashable:
    __hash__ = None

    def __str__(self):
        return "0820021C"


@pytest.mark.django_db
def test_url_with_an_unhashable_argument_goes_through_django():
    assert render("{{ url('grades', uai=u) }}", u=Unhashable()) == reverse(
        "grades", kwargs={"uai": "0820021C"}
    )


def test_values_print_as_in_django_templates():
    with translation.override("fr"), timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert render("{{ v }}", v=Decimal("16.50")) == "16,50"
        assert render("{{ v }}", v=2.5) == "2,5"
        assert render("{{ v }}", v=1234) == "1234"
        assert (
            render("{{ v }}", v=dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC))
            == "30 novembre 2026 00:30"
        )
        assert render("{{ v }}", v="<b>") == "&lt;b&gt;"


def test_missing_variables_print_nothing_and_are_none():
    assert (
        render("[{{ missing }}][{{ missing.attr.deeper }}][{{ obj.nothing }}]", obj=object())
        == "[][][]"
    )
    assert render("{% if missing is none %}none{% endif %}") == "none"
    assert render("{% if v is not none %}set{% endif %}", v=0) == "set"


def test_djangos_default_truncatewords_linebreaksbr_and_display_filters():
    assert render("{{ v|default('—') }}", v="") == "—"
    assert render("{{ v|default('—') }}", v=0) == "—"
    assert render("{{ v|truncatewords(3) }}", v="un deux trois quatre") == "un deux trois …"
    assert render("{{ v|linebreaksbr }}", v="a<b>\nc") == "a&lt;b&gt;<br>c"
    assert (
        render("{{ v|note }}/{{ n }} note{{ n|pluriel }}", v=Decimal("16.50"), n=2)
        == "16,5/2 notes"
    )


class Person:
    first_name = "Léa"

    def get_full_name(self):
        return "Léa Martin"


@pytest.mark.parametrize(
    "source",
    [
        "{{ p.get_full_name }}",
        "{% if p.get_full_name %}x{% endif %}",
        "{{ p.get_full_name|upper }}",
        "{% for c in p.get_full_name %}{% endfor %}",
    ],
)
def test_strict_mode_refuses_a_method_not_called(source):
    with pytest.raises(jinja.MethodNotCalled, match=r"write get_full_name\(\)"):
        render(source, p=Person())


def test_strict_mode_lets_called_methods_and_attributes_through():
    assert (
        render(
            "{{ p.get_full_name() }} {{ p.first_name }} {{ d.items()|list|length }}",
            p=Person(),
            d={"a": 1},
        )
        == "Léa Martin Léa 1"
    )


def test_production_mode_has_no_method_check(settings):
    settings.PREAU_TEMPLATES_STRICT = False
    env = jinja.environment()
    assert type(env) is jinja.Environment
    assert env.from_string("{{ p.get_full_name() }}").render(p=Person()) == "Léa Martin"


def test_the_csrf_token_is_masked_once_per_render_and_stays_valid(rf, monkeypatch):
    from django.middleware import csrf

    calls = []
    real_get_token = csrf.get_token
    monkeypatch.setattr(
        jinja, "get_token", lambda request: calls.append(1) or real_get_token(request)
    )
    request = rf.get("/")
    template = engines["jinja2"].from_string(
        "{{ csrf_input }}|{{ csrf_token }}|{% if csrf_token %}{{ csrf_token }}{% endif %}"
    )
    first = template.render(request=request)
    input_html, token, again = first.split("|")
    assert token == again and f'value="{token}"' in input_html
    assert len(calls) == 1
    # A masked token: still the request's secret, a different mask at each render (BREACH).
    secret = request.META["CSRF_COOKIE"]
    assert csrf._unmask_cipher_token(token) == secret
    assert template.render(request=request).split("|")[1] != token


def test_a_template_without_forms_masks_no_token(rf, monkeypatch):
    calls = []
    monkeypatch.setattr(jinja, "get_token", lambda request: calls.append(1))
    assert engines["jinja2"].from_string("rien").render(request=rf.get("/")) == "rien"
    assert calls == []

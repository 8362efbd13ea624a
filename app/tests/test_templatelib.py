"""preau.core.templatelib: {% url %}, |date and |time remembered, with Django's exact output."""
import datetime as dt
import zoneinfo

import pytest
from django.template import Context, Engine, engines
from django.template.defaultfilters import date as django_date, time as django_time
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from preau.core import templatelib


def render(source, **context):
    return engines["django"].from_string(source).render(context)


def test_every_template_gets_the_remembered_tags():
    library = engines["django"].engine.template_builtins[-1]
    assert library is templatelib.register
    assert library.tags["url"] is templatelib.url and library.filters["date"] is templatelib.date


@pytest.mark.parametrize("value", [
    dt.date(2026, 11, 30), dt.date(2027, 2, 1), dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 7, 14, 9, 5), None, "",
])
@pytest.mark.parametrize("fmt", ["l j F", "D j M", "j F Y", "j F H:i", "d/m/Y", None])
def test_date_is_djangos(value, fmt):
    with translation.override("fr"), timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        try:
            expected = django_date(timezone.template_localtime(value) if isinstance(value, dt.datetime) else value, fmt)
        except TypeError:  # Django refuses a time format for a date: so does the remembered filter
            with pytest.raises(TypeError):
                render("{{ v|date:f }}", v=value, f=fmt)
            return
        assert render("{{ v|date:f }}", v=value, f=fmt) == expected
        assert render("{{ v|date:f }}", v=value, f=fmt) == expected  # remembered


def test_date_follows_language_and_time_zone():
    moment = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.timezone.utc)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        with translation.override("fr"):
            assert render('{{ v|date:"l j F H:i" }}', v=moment) == "lundi 30 novembre 00:30"
        with translation.override("en"):
            assert render('{{ v|date:"l j F H:i" }}', v=moment) == "Monday 30 November 00:30"
    with timezone.override(zoneinfo.ZoneInfo("America/Cayenne")), translation.override("fr"):
        assert render('{{ v|date:"l j F H:i" }}', v=moment) == "dimanche 29 novembre 20:30"


def test_time_is_djangos():
    for value in (dt.time(8, 5), dt.time(17, 0), None):
        assert render('{{ v|time:"H:i" }}', v=value) == django_time(value, "H:i")
    assert render('{{ v|time:"H:i" }}', v=dt.time(8, 5)) == "08:05"


@pytest.mark.django_db
def test_url_is_djangos_and_remembered(monkeypatch):
    source = "{% url 'homework' uai=uai homework_id=pk %}|{% url 'home' %}|{% url 'grades' uai as g %}{{ g }}"
    expected = "|".join([reverse("homework", kwargs={"uai": "0820021C", "homework_id": 7}), reverse("home"),
                         reverse("grades", args=["0820021C"])])
    assert render(source, uai="0820021C", pk=7) == expected
    calls = []
    monkeypatch.setattr(templatelib, "reverse", lambda *a, **k: calls.append(a) or "/not-called/")
    try:
        assert render(source, uai="0820021C", pk=7) == expected and calls == []
        assert render("{% url 'homework' uai=uai homework_id=pk %}", uai="0820021C", pk=8) == "/not-called/"
    finally:
        templatelib._reverse.cache_clear()  # forget the fake URL


@pytest.mark.django_db
def test_url_errors_as_in_django():
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-view' %}")
    assert render("{% url 'no-such-view' as missing %}[{{ missing }}]") == "[]"


class Unhashable:
    __hash__ = None

    def __str__(self):
        return "0820021C"


@pytest.mark.django_db
def test_url_with_an_unhashable_argument_goes_through_django():
    assert render("{% url 'grades' uai=u %}", u=Unhashable()) == reverse("grades", kwargs={"uai": "0820021C"})


def test_a_template_engine_without_the_builtin_is_unaffected():
    assert Engine().from_string("{{ v|date:'Y' }}").render(Context({"v": dt.date(2026, 1, 1)})) == "2026"

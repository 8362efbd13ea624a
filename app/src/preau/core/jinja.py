"""The environment of the app's templates: Jinja2 through Django's Jinja2 backend.

Jinja2 compiles a template to Python code once per process; rendering a list page costs a
fraction of what Django's template language did (docs/benchmarks-history.md: 40 % of a page's CPU went into
rendering). The templates keep Django's output: the same filters (Django's own where Jinja2's
differ: `default`, `date`, `time`, `linebreaksbr`, `truncatewords`, ...), values printed as
Django's templates print them (numbers and dates localized, aware datetimes in local time), a
missing variable or attribute printing nothing.

Differences a template author must know:
- methods are called explicitly: `user.get_full_name()`, `form.non_field_errors()`;
  settings.PREAU_TEMPLATES_STRICT (on in the test suite) makes a method used without `()` an
  error instead of a truthy value or "<bound method …>";
- `{{ url('name', uai=…) }}`, `{{ static('path') }}`, `{{ csrf_input }}`, `{{ now('j F') }}`
  (the CSRF token is masked once per render, as Django's template language does: Django's
  Jinja2 backend masks a new one at each use, 40 µs each);
- `{% for %}…{% else %}` for Django's `{% empty %}`, `loop.last` for `forloop.last`;
- `x is none` is also true for a missing variable, as Django's `x is None`;
- values passed to an include: `{% with a=b %}{% include "x.html" %}{% endwith %}`.

`url`, `date` and `time` results are remembered per process (a page renders dozens of them,
mostly for the same few values); keys hold everything the result depends on.
"""

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.middleware.csrf import get_token
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import formats, timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.translation import get_language
from jinja2 import ChainableUndefined, Environment, Undefined, pass_context

from preau.core.display import average, note, pluriel, subject


def _current_locale():
    return (
        get_script_prefix(),
        get_urlconf() or settings.ROOT_URLCONF,
        get_language(),
        timezone.get_current_timezone(),
    )


def locale_of_render(request):
    """Context processor: what url(), |date and |time depend on besides their arguments (URL
    prefix and URLconf, language, time zone), read once per page: each read of Django's
    per-request state costs 2-5 µs, and a page makes dozens of these calls."""
    return {"_locale": _current_locale()}


def csrf_once(request):
    """Context processor: `csrf_token` and `csrf_input` masked once for the whole render (the
    logout form of every page, plus the page's own forms), still only if the page uses them.
    Context processors run after Django's backend has set its own, so these replace them."""
    token = SimpleLazyObject(lambda: get_token(request))
    return {
        "csrf_token": token,
        "csrf_input": SimpleLazyObject(
            lambda: format_html(
                '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', str(token)
            )
        ),
    }


def _locale(context):
    return context.get("_locale") or _current_locale()  # a render without request: read now


@lru_cache(maxsize=8192, typed=True)
def _reverse(view_name, args, kwargs, prefix, urlconf, language):
    return reverse(view_name, args=args, kwargs=dict(kwargs))


@pass_context
def url(context, view_name, *args, **kwargs):
    """Django's reverse(), remembered."""
    prefix, urlconf, language, _ = _locale(context)
    try:
        return _reverse(view_name, args, tuple(sorted(kwargs.items())), prefix, urlconf, language)
    except TypeError:  # an unhashable argument: not remembered
        return reverse(view_name, args=args, kwargs=kwargs)


_DJANGO = {"date": defaultfilters.date, "time": defaultfilters.time}


@lru_cache(maxsize=8192, typed=True)
def _formatted(kind, value, arg, language, zone):
    return _DJANGO[kind](value, arg)


def _remembered(kind):
    @pass_context
    def remembered(context, value, arg=None):
        _, _, language, zone = _locale(context)
        # as Django's templates do: an aware datetime is shown in the current time zone (which
        # is part of the key: two equal instants in other zones compare equal)
        if isinstance(value, dt.datetime) and settings.USE_TZ and value.tzinfo is not None:
            value = value.astimezone(zone)
        try:
            return _formatted(kind, value, arg, language, str(getattr(value, "tzinfo", None)))
        except TypeError:  # unhashable, or refused by Django's filter (which then raises again)
            return _DJANGO[kind](value, arg)

    remembered.__name__ = kind
    remembered.__doc__ = f"Django's |{kind}, remembered."
    return remembered


date = _remembered("date")
time = _remembered("time")


def now(format_string):
    return defaultfilters.date(timezone.localtime(), format_string)


def default(value, arg=""):
    """Django's |default: `arg` for any false value (Jinja2's only for undefined ones)."""
    return value or arg


def linebreaksbr(value):
    return defaultfilters.linebreaksbr(value, autoescape=True)


FILTERS = {
    "date": date,
    "time": time,
    "default": default,
    "linebreaksbr": linebreaksbr,
    "truncatewords": defaultfilters.truncatewords,
    "filesizeformat": defaultfilters.filesizeformat,
    "pluralize": defaultfilters.pluralize,
    "note": note,
    "average": average,
    "pluriel": pluriel,
    "subject": subject,
}
GLOBALS = {"url": url, "static": static, "now": now}


def is_none(value):
    """`x is none` as Django's `x is None`: true for a missing variable or attribute too."""
    return value is None or isinstance(value, Undefined)


TESTS = {"none": is_none}

_LOCALIZED = (Decimal, float, dt.date, dt.time)  # datetime is a date


def printed(value):
    """A value as Django's templates print it: numbers and dates localized (16,5 not 16.5)."""
    if isinstance(value, _LOCALIZED):
        return formats.localize(timezone.template_localtime(value))
    return value


class MethodNotCalled(TypeError):
    pass


class _MustCall:
    """A method looked up in a template (strict mode): calling it is the only valid use."""

    __slots__ = ("_method", "_name")

    def __init__(self, method, name):
        self._method, self._name = method, name

    def __call__(self, *args, **kwargs):
        return self._method(*args, **kwargs)

    def __getattr__(self, attribute):  # managers are callable too: `user.memberships.all()`
        return getattr(self._method, attribute)

    def _misused(self, *args):
        raise MethodNotCalled(
            f"template uses method {self._name!r} without calling it: write {self._name}()"
        )

    __str__ = __html__ = __bool__ = __iter__ = __len__ = __eq__ = __ne__ = __lt__ = __gt__ = (
        _misused
    )
    __hash__ = None  # type: ignore[assignment]  # unhashable, as _misused's other dunders refuse


class StrictEnvironment(Environment):
    """The environment of the test suite: a method used without () is an error."""

    def getattr(self, obj, attribute):
        value = super().getattr(obj, attribute)
        if (
            callable(value)
            and not isinstance(value, (type, Undefined))
            and not getattr(value, "do_not_call_in_templates", False)
        ):
            return _MustCall(value, attribute)
        return value


def _finalize_strict(value):
    if isinstance(value, _MustCall):
        value._misused()
    return printed(value)


def environment(**options):
    strict = getattr(settings, "PREAU_TEMPLATES_STRICT", False)
    # like Django's templates: a missing variable or attribute (even chained) prints nothing
    options["undefined"] = ChainableUndefined
    options["finalize"] = _finalize_strict if strict else printed
    env = (StrictEnvironment if strict else Environment)(**options)
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
    env.tests.update(TESTS)
    return env

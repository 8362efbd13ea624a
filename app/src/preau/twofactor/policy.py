"""Who needs a second factor, and the one place that enforces it.

Platform operators (ADMC: `User.is_superuser`) and local administrators (ADML: a current
membership with `is_local_admin`) need one. `SecondFactorMiddleware` enforces it on every view
whatever created the session (password login, activation, `force_login`, any future path): a
user who needs it and whose session is not verified by one of their own confirmed django-otp
devices reaches only `EXEMPT_URL_NAMES`; any other page redirects to the enrolment (no device
yet) or to the verification, with `?next=`. Static files (whitenoise) are served before it.

Cost: it runs after `TenantMiddleware.process_view`, so the user and the membership are already
read; whether the session needs a second factor is decided at login (`remember_requirement`,
one query) and kept in the session. A user who needs none costs no query on any page.
"""

from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from preau.core.models import Membership

SESSION_REQUIRED = "preau_2fa_required"

# Reachable before the second factor: probes, logging in or out, and the second-factor pages.
EXEMPT_URL_NAMES = frozenset(
    {
        "healthz",
        "readyz",
        "metrics",
        "login",
        "logout",
        "activation",
        # The IdP's answers (an ADML logs in through it, then meets the second factor) and its
        # logout requests, which must end the session whatever its second factor.
        "federation_login",
        "federation_acs",
        "federation_sls",
        "federation_metadata",
        "two_factor_setup",
        "two_factor_verify",
    }
)


def needs_second_factor(user) -> bool:
    return user.is_superuser or (
        Membership.objects.current().filter(user=user, is_local_admin=True).exists()
    )


def remember_requirement(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: decide once per session whether it needs a second factor."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_REQUIRED] = needs_second_factor(user)


def is_required(request, user) -> bool:
    if user.is_superuser:
        return True
    membership = getattr(request, "membership", None)
    if membership is not None and membership.is_local_admin:
        return True  # named ADML after this session began: the page read the membership anyway
    required = request.session.get(SESSION_REQUIRED)
    if required is None:  # a session older than this code: decided once, then kept
        required = request.session[SESSION_REQUIRED] = needs_second_factor(user)
    return required


def verified_device(request, user):
    """The confirmed device of `user` that verified this session, else None."""
    persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if isinstance(persistent_id, str) else None
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    return device


def second_factor_url(user, next_url: str) -> str:
    enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    name = "two_factor_verify" if enrolled else "two_factor_setup"
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Exempt names first: /healthz must not even read the session.
        if request.resolver_match.url_name in EXEMPT_URL_NAMES:
            return None
        user = request.user
        if not user.is_authenticated or not is_required(request, user):
            return None
        device = verified_device(request, user)
        if device is not None:
            user.otp_device = device
            return None
        return HttpResponseRedirect(second_factor_url(user, request.get_full_path()))

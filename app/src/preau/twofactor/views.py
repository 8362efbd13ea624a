"""The second-factor pages: enrolment, verification, "Sécurité du compte" (global URLs)."""

import logging

import django_otp
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from preau.core.views import _safe_next
from preau.twofactor import devices, policy
from preau.twofactor.forms import EnrolmentForm, VerificationForm

log = logging.getLogger("preau.twofactor")


def _verified(request, device) -> None:
    """The session is verified by `device` (django-otp's own session key), under a new session
    key: a key known before the second factor is worth nothing after it."""
    django_otp.login(request, device)
    request.session.cycle_key()
    log.info(
        "second factor verified",
        extra={"user_id": request.user.pk, "device": type(device).__name__},
    )


def _refused(request, form, check, template, context):
    """The page again with the reason: throttled (429, Retry-After) or a wrong code (400)."""
    log.warning(
        "second factor refused",
        extra={"user_id": request.user.pk, "throttled": check.retry_after is not None},
    )
    if check.retry_after is not None:
        form.add_error(
            None,
            f"Trop de codes erronés. Réessayez dans {check.retry_after} "
            f"seconde{'s' if check.retry_after > 1 else ''}.",
        )
        response = render(request, template, context, status=429)
        response["Retry-After"] = str(check.retry_after)
        return response
    form.add_error("code", "Code incorrect ou expiré.")
    return render(request, template, context, status=400)


def _recovery_codes_page(request, codes, next_url):
    # Shown once, on this response; only django-otp's table keeps them.
    return render(request, "twofactor/recovery_codes.html", {"codes": codes, "next": next_url})


@never_cache
@login_required
def setup(request):
    """Enrolment: scan the QR code (or type the secret), confirm a first code."""
    user, next_url = request.user, _safe_next(request, "")
    if not policy.is_required(request, user):
        return redirect("home")
    if devices.totp_device(user) is not None:
        return redirect(policy.second_factor_url(user, next_url))
    device = devices.pending_totp(user)
    form = EnrolmentForm(request.POST or None)
    context = {
        "form": form,
        "next": next_url,
        "qr": devices.qr_svg(device),
        "secret": devices.secret_text(device),
    }
    if request.method != "POST":
        return render(request, "twofactor/setup.html", context)
    if not form.is_valid():
        return render(request, "twofactor/setup.html", context, status=400)
    check = devices.check_code(device, form.cleaned_data["code"])
    if not check.ok:
        return _refused(request, form, check, "twofactor/setup.html", context)
    devices.confirm(check.device)
    _verified(request, check.device)
    return _recovery_codes_page(request, devices.new_recovery_codes(user), next_url)


@never_cache
@login_required
def verify(request):
    """A code of the app, or a recovery code (used once)."""
    user, next_url = request.user, _safe_next(request, "")
    if not policy.is_required(request, user) or policy.verified_device(request, user):
        return redirect(next_url or "home")
    if devices.totp_device(user) is None:
        return redirect(policy.second_factor_url(user, next_url))
    form = VerificationForm(request.POST or None)
    context = {"form": form, "next": next_url}
    if request.method != "POST":
        return render(request, "twofactor/verify.html", context)
    if not form.is_valid():
        return render(request, "twofactor/verify.html", context, status=400)
    code = form.cleaned_data["code"]
    device = devices.device_for_code(user, code)
    check = devices.check_code(device, code) if device is not None else devices.Check(False)
    if not check.ok:
        return _refused(request, form, check, "twofactor/verify.html", context)
    _verified(request, check.device)
    if isinstance(check.device, devices.StaticDevice):
        left = devices.recovery_codes_left(user)
        messages.warning(
            request,
            f"Code de secours utilisé : il vous en reste {left}. Vous pouvez "
            "en générer de nouveaux depuis « Sécurité du compte ».",
        )
    return redirect(next_url or "home")


@never_cache
@login_required
def security(request):
    """ "Sécurité du compte": the second factor in use, recovery codes left, new codes."""
    user = request.user
    context = {"required": policy.is_required(request, user)}
    if context["required"]:
        context.update(app=devices.totp_device(user), codes_left=devices.recovery_codes_left(user))
    return render(request, "twofactor/security.html", context)


@never_cache
@require_POST
@login_required
def regenerate_codes(request):
    if not policy.is_required(request, request.user):
        return redirect("account_security")
    log.info("recovery codes regenerated", extra={"user_id": request.user.pk})
    return _recovery_codes_page(request, devices.new_recovery_codes(request.user), "")

"""Web pages (French UI) and operational endpoints."""

import functools

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from preau.core import account_emails, accounts, metrics, migration_phases, throttle
from preau.core.forms import (
    ActivationForm,
    DirectorySearchForm,
    LoginForm,
    NewPasswordForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
)
from preau.core.models import ClassGroup, ClassMembership, Membership, ParentLink, Platform, User
from preau.core.sessions import end_sessions_of
from preau.core.tenancy import local_admin_required

# --- operations -------------------------------------------------------------------------------


@require_GET
def healthz(request):
    """Alive: the process answers. Never touches the database."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    """Ready: the database answers and every expand migration is applied (contract ones wait
    for the end of a rolling release, see core.migration_phases)."""
    try:
        connection.ensure_connection()
        pending, _ = migration_phases.pending()
    except DatabaseError as exc:
        # Only the error class: this endpoint must not leak hosts or paths.
        return _unready(request, database=type(exc).__name__)
    if pending:
        return _unready(request, pending_migrations=[f"{m.app_label}.{m.name}" for m, _ in pending])
    return JsonResponse({"status": "ready"})


def _unready(request, **details):
    """503 for everyone (the release check and the monitoring probes read the status code);
    what is wrong only for the monitoring networks: pending migrations and the database error
    class describe the platform to whoever asks."""
    shown = details if metrics.from_monitoring(request) else {}
    return JsonResponse({"status": "unavailable", **shown}, status=503)


@require_GET
def metrics_view(request):
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)


# --- authentication -------------------------------------------------------------------------


def _safe_next(request, default="home"):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return default


@never_cache
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip().lower()
        ip = throttle.client_ip(request)
        wait = throttle.retry_after(username, ip)
        if wait:
            metrics.LOGINS.labels(result="throttled").inc()
            return _throttled(
                request, "preau/login.html", form, wait, {"next": _safe_next(request, "")}
            )
        # Unknown, not yet activated (unusable password) and disabled accounts: Django hashes
        # once for each, like a wrong password, and the answer is the same.
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        throttle.record_attempt(username, ip, success=user is not None)
        if user is not None:
            metrics.LOGINS.labels(result="ok").inc()
            login(request, user)
            return redirect(_safe_next(request))
        metrics.LOGINS.labels(result="failed").inc()
        form.add_error(None, "Identifiant ou mot de passe incorrect.")
        status = 401
    from preau.federation.saml import enabled_idps

    context = {"form": form, "next": _safe_next(request, ""), "idps": enabled_idps()}
    return render(request, "preau/login.html", context, status=status)


def _throttled(request, template, form, wait: int, context=None):
    """429 with Retry-After: the form again, saying when to retry."""
    form.add_error(None, throttle.wait_message(wait))
    response = render(request, template, {"form": form, **(context or {})}, status=429)
    response["Retry-After"] = str(wait)
    return response


def onward(request, url: str, label: str, message: str = "") -> HttpResponse:
    """A page that sends the browser on to `url`, another site, at once (meta refresh; a link
    without it), where a redirection would be refused: the ENT's Content-Security-Policy
    (form-action 'self', set by nginx) forbids a form's submission, redirections included,
    to end on another site. So a form's answer (logout, a login whose `next` is the CAS
    server) goes on from this page instead, a new navigation the policy leaves alone."""
    context = {
        "destination": url,
        "label": label,
        "message": message or f"Vous allez vers {label}.",
    }
    response = render(request, "preau/onward.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def logout_view(request):
    from preau.federation.saml import federated_session

    if federated_session(request):  # logged in through an IdP: single logout
        from preau.federation import views as federation

        return federation.logout_start(request)
    logout(request)
    messages.info(request, "Vous êtes déconnecté.")
    return redirect("login")


@never_cache
def activation_view(request):
    """First login: the activation code handed out by the establishment + a new password."""
    form = ActivationForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip().lower()
        ip = throttle.client_ip(request)
        wait = throttle.retry_after(username, ip)
        if wait:
            metrics.LOGINS.labels(result="throttled").inc()
            return _throttled(request, "preau/activation.html", form, wait)
        user = User.objects.filter(username=username, is_active=True).first()
        if not accounts.check_activation_code(user, form.cleaned_data["code"]):
            throttle.record_attempt(username, ip, success=False)
            metrics.LOGINS.labels(result="failed").inc()
            form.add_error("code", "Identifiant ou code d'activation incorrect ou expiré.")
            status = 400
        elif form.validate_password_for(user):
            user.set_password(form.cleaned_data["password1"])
            user.activation_code = ""
            user.activation_expires = None
            user.save(update_fields=["password", "activation_code", "activation_expires"])
            throttle.record_attempt(username, ip, success=True)
            metrics.LOGINS.labels(result="ok").inc()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Votre compte est activé. Bienvenue sur Préau !")
            return redirect("home")
        else:
            status = 400
    elif request.method == "POST":
        status = 400
    return render(request, "preau/activation.html", {"form": form}, status=status)


def set_new_password(request, user, password: str, keep_this_session: bool = True) -> None:
    """The account's new password (validated by the caller's form): every other session of
    the account ends; this one, when it is the account's and kept, goes on under a new key."""
    user.set_password(password)
    user.save(update_fields=["password"])
    if keep_this_session and request.user.is_authenticated and request.user.pk == user.pk:
        update_session_auth_hash(request, user)  # this session: new hash, new key
        end_sessions_of(user.pk, keep=request.session.session_key)
    else:
        end_sessions_of(user.pk)


@never_cache
@login_required
def password_change(request):
    """ "Changer mon mot de passe": the current one (checked under the login throttle), the new
    one per the account's rule; the account's other sessions end."""
    user = request.user
    form = PasswordChangeForm(user, request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        ip = throttle.client_ip(request)
        wait = throttle.retry_after(user.username, ip)
        if wait:
            return _throttled(request, "preau/password_change.html", form, wait)
        right = user.check_password(form.cleaned_data["old_password"])
        if not right:
            throttle.record_attempt(user.username, ip, success=False)
            form.add_error("old_password", "Mot de passe actuel incorrect.")
            status = 400
        elif form.validate_password_for(user):
            set_new_password(request, user, form.cleaned_data["password1"])
            messages.success(
                request,
                "Votre mot de passe est changé. Vos autres sessions (autres appareils) sont "
                "déconnectées.",
            )
            return redirect("password_change")
        else:
            status = 400
    elif request.method == "POST":
        status = 400
    return render(request, "preau/password_change.html", {"form": form}, status=status)


RESET_SENT = (
    "Si un compte adulte de Préau correspond et que son adresse e-mail est confirmée, un lien "
    "pour choisir un nouveau mot de passe vient d'y être envoyé. Il ne fonctionne qu'une fois."
)


@never_cache
def password_reset(request):
    """ "Mot de passe oublié": the same answer, by the same path, whether the account exists,
    qualifies (adult, confirmed address) or not; the e-mail is a job, enqueued only when it
    does. Throttled per login or address typed and per client address (429, visible: it does
    not depend on the account), and per account (silently: no e-mail, the same answer)."""
    form = PasswordResetRequestForm(request.POST or None)
    available = account_emails.emails_available()
    if request.method == "POST" and available and form.is_valid():
        typed, ip = form.cleaned_data["login"].strip(), throttle.client_ip(request)
        wait = throttle.request_wait("reset", typed, ip)
        if wait:
            return _throttled(
                request, "preau/password_reset.html", form, wait, {"available": available}
            )
        throttle.record_request("reset", typed, ip)
        for user in account_emails.reset_candidates(typed):
            if not throttle.request_wait("reset-account", str(user.pk), None):
                throttle.record_request("reset-account", str(user.pk), None)
                account_emails.enqueue(
                    account_emails.PASSWORD_RESET, user, request.build_absolute_uri("/")
                )
        messages.info(request, RESET_SENT)
        return redirect("password_reset")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "preau/password_reset.html",
        {"form": form, "available": available},
        status=status,
    )


def _reset_user(uidb64: str, token: str) -> User | None:
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk).first()
    if user is None or not account_emails.may_reset_by_email(user):
        return None
    return user if default_token_generator.check_token(user, token) else None


@never_cache
def password_reset_confirm(request, uidb64, token):
    """The link of the e-mail: a new password per the account's rule; every session of the
    account ends. The link works once (the new password voids the token) and expires."""
    user = _reset_user(uidb64, token)
    if user is None:
        return render(request, "preau/password_reset_invalid.html", status=400)
    form = NewPasswordForm(request.POST or None)
    form.tell_rule_of(user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and form.validate_password_for(user):
            user.activation_code = ""
            user.activation_expires = None
            user.save(update_fields=["activation_code", "activation_expires"])
            set_new_password(request, user, form.cleaned_data["password1"], keep_this_session=False)
            messages.success(
                request,
                "Votre mot de passe est changé : connectez-vous avec lui. Toutes les sessions "
                "ouvertes avec l'ancien sont fermées.",
            )
            return redirect("login")
    return render(
        request, "preau/password_reset_confirm.html", {"form": form, "person": user}, status=status
    )


@never_cache
@login_required
def email_settings(request):
    """ "Mon adresse e-mail": the account's address (set by the establishment's directory),
    whether it is confirmed, and a button that sends the confirmation link (a job)."""
    user = request.user
    if request.method == "POST":
        if user.email and account_emails.emails_available():
            key = str(user.pk)
            if throttle.request_wait("confirm", key, throttle.client_ip(request)):
                messages.error(request, "Un lien vient déjà d'être envoyé : réessayez plus tard.")
            else:
                throttle.record_request("confirm", key, throttle.client_ip(request))
                account_emails.enqueue(
                    account_emails.CONFIRMATION, user, request.build_absolute_uri("/")
                )
                messages.info(
                    request, f"Un lien de confirmation vient d'être envoyé à {user.email}."
                )
        return redirect("email_settings")
    return render(
        request,
        "preau/email_settings.html",
        {"available": account_emails.emails_available()},
    )


@never_cache
def email_confirm(request, token):
    """The confirmation link: a button (a GET changes nothing: mail scanners open links)."""
    if request.method == "POST":
        user = account_emails.confirm(token)
        if user is None:
            return render(request, "preau/email_confirm.html", {"invalid": True}, status=400)
        messages.success(request, f"L'adresse {user.email} est confirmée.")
        return redirect("email_settings" if request.user.is_authenticated else "login")
    return render(request, "preau/email_confirm.html", {"invalid": False})


@login_required
def home(request):
    memberships = (
        Membership.objects.current()
        .filter(user=request.user, establishment__status="active")
        .select_related("establishment")
        .order_by("establishment__name")
    )
    return render(request, "preau/home.html", {"memberships": memberships})


# --- establishment pages (all under /e/<uai>/, guarded by TenantMiddleware) --------------------


@local_admin_required
def directory(request, uai):
    form = DirectorySearchForm(request.GET or None)
    members = (
        Membership.objects.for_request(request)
        .present()
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    if form.is_valid():
        members = accounts.search_users(members, form.cleaned_data["q"])
        if form.cleaned_data["profile"]:
            members = members.filter(profile=form.cleaned_data["profile"])
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "preau/directory.html", {"form": form, "page": page, "query": query.urlencode()}
    )


def _member_or_404(request, user_id) -> Membership:
    membership = get_object_or_404(
        Membership.objects.for_request(request).select_related("user", "establishment"),
        user_id=user_id,
    )
    # A local admin does not even see a platform admin's account.
    if membership.user.is_platform_admin and not request.user.is_platform_admin:
        raise PermissionDenied
    return membership


def _user_page(request, membership, refusal, new_code=None, status=200):
    user = membership.user
    year = Platform.current_school_year()
    context = {
        "membership": membership,
        "person": user,
        "classes": ClassGroup.objects.for_request(request).filter(members=user, school_year=year),
        "children": ParentLink.objects.for_request(request)
        .filter(parent=user)
        .select_related("child"),
        "parents": ParentLink.objects.for_request(request)
        .filter(child=user)
        .select_related("parent"),
        "refusal": refusal,
        # The code is shown once, on this response, never stored in clear.
        "new_code": new_code,
    }
    return render(request, "preau/directory_user.html", context, status=status)


@local_admin_required
def directory_user(request, uai, user_id):
    membership = _member_or_404(request, user_id)
    return _user_page(request, membership, accounts.local_admin_refusal(request.user, membership))


def _account_action(action, confirm_template=None):
    """A POST of the directory acting on an account: refused with 403 (the page, with the
    reason) unless accounts.local_admin_refusal() allows it. With `confirm_template`, a GET
    shows that confirmation page (what the POST will do) instead of 405."""

    @functools.wraps(action)
    @require_http_methods(["GET", "POST"] if confirm_template else ["POST"])
    @local_admin_required
    def view(request, uai, user_id):
        membership = _member_or_404(request, user_id)
        refusal = accounts.local_admin_refusal(request.user, membership)
        if refusal:
            return _user_page(request, membership, refusal, status=403)
        if request.method == "GET":
            return render(
                request, confirm_template, {"membership": membership, "person": membership.user}
            )
        return action(request, membership, by=request.user.username, via="annuaire")

    return view


def _confirmed_first(template):
    return functools.partial(_account_action, confirm_template=template)


@_account_action
def directory_reset_code(request, membership, **who):
    code = accounts.issue_activation_code(membership.user, request.establishment, **who)
    return _user_page(request, membership, None, new_code=code)


@_confirmed_first("preau/directory_disable.html")
def directory_disable(request, membership, **who):
    accounts.disable_in_establishment(membership.user, request.establishment, **who)
    messages.success(request, f"{membership.user} est désactivé dans cet établissement.")
    return redirect("directory", uai=request.establishment.uai)


@_account_action
def directory_enable(request, membership, **who):
    accounts.enable_in_establishment(membership.user, request.establishment, **who)
    messages.success(request, f"{membership.user} est réactivé dans cet établissement.")
    return redirect("directory_user", uai=request.establishment.uai, user_id=membership.user_id)


@local_admin_required
def class_list(request, uai):
    classes = ClassGroup.objects.for_request(request).filter(
        school_year=Platform.current_school_year()
    )
    return render(request, "preau/classes.html", {"classes": classes})


@local_admin_required
def class_detail(request, uai, class_id):
    class_group = get_object_or_404(ClassGroup.objects.for_request(request), pk=class_id)
    members = (
        ClassMembership.objects.for_request(request)
        .filter(class_group=class_group)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    return render(
        request, "preau/class_detail.html", {"class_group": class_group, "members": members}
    )

"""The account's own e-mails: "Mot de passe oublié" and the confirmation of its address.

Like every e-mail of Préau, each is a job of the queue (preau.jobs.tasks.send_account_email),
never sent in a web request; the job makes the link when it runs, so no token is ever stored
in the jobs table.

- An address is confirmed by a link sent to it ("Mon adresse e-mail", /compte/adresse/): the
  link carries a signature of the account and the address, valid ACCOUNT_EMAIL_CONFIRMATION_DAYS;
  following it records `confirmed_email` and `email_confirmed_at`. An import that changes the
  address leaves the account unconfirmed (User.has_confirmed_email compares the two).
- "Mot de passe oublié" is for adults (preau.core.passwords: not only a pupil) whose address is
  confirmed. Django's PasswordResetTokenGenerator makes the link: single-use by design (the
  password's hash and the last login are part of the token, so the new password voids it) and
  valid PASSWORD_RESET_TIMEOUT. Pupils without e-mail get a new activation code from their
  teacher or the ADML (the directory's "Générer un nouveau code d'activation").
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from preau.core import passwords
from preau.core.models import User

log = logging.getLogger("preau.accounts")
CONFIRMATION_SALT = "preau.core.account_emails.confirmation"
PASSWORD_RESET = "password_reset"
CONFIRMATION = "email_confirmation"


def emails_available() -> bool:
    """The platform sends e-mails ([email] enabled in preau.toml)."""
    return bool(settings.PREAU_EMAIL_NOTIFICATIONS)


def may_reset_by_email(user: User) -> bool:
    return (
        user.is_active
        and user.merged_into_id is None
        and user.has_confirmed_email
        and not passwords.is_pupil(user)
    )


def reset_candidates(typed: str) -> list[User]:
    """The accounts a "Mot de passe oublié" request names (its login, or its address) that
    may reset their password by e-mail."""
    typed = typed.strip()
    if not typed:
        return []
    match = Q(username=typed.lower())
    if "@" in typed:
        match |= Q(email__iexact=typed)
    return [u for u in User.objects.filter(match)[:10] if may_reset_by_email(u)]


def enqueue(kind: str, user: User, base_url: str) -> None:
    from preau.jobs.tasks import send_account_email

    send_account_email.defer(kind=kind, user_id=user.pk, base_url=base_url)


def confirmation_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=CONFIRMATION_SALT)


def confirm(token: str) -> User | None:
    """The account whose address the link confirms (recorded now), or None: a bad or expired
    link, or an address changed since it was sent."""
    try:
        data = signing.loads(
            token,
            salt=CONFIRMATION_SALT,
            max_age=settings.ACCOUNT_EMAIL_CONFIRMATION_DAYS * 86400,
        )
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None or not user.email or user.email.lower() != data.get("e"):
        return None
    user.confirmed_email = user.email
    user.email_confirmed_at = timezone.now()
    user.save(update_fields=["confirmed_email", "email_confirmed_at"])
    return user


def site_url(base_url: str) -> str:
    """The site's address in what leaves it (e-mails, activation letters): [email] site_url,
    else `base_url` (the request's own)."""
    return (settings.PREAU_SITE_URL or base_url).rstrip("/")


def _reset_message(user: User, base_url: str) -> EmailMessage | None:
    if not may_reset_by_email(user):
        return None
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = site_url(base_url) + reverse("password_reset_confirm", args=[uid, token])
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    body = (
        f"Bonjour,\n\nUne demande de nouveau mot de passe a été faite pour votre compte Préau "
        f"(identifiant : {user.username}).\n\nPour choisir un nouveau mot de passe, ouvrez ce "
        f"lien (il ne fonctionne qu'une fois, pendant {hours} heures) :\n\n{link}\n\n"
        "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.\n\n"
        "-- \nPréau, l'ENT des collèges"
    )
    return EmailMessage("[Préau] Choisir un nouveau mot de passe", body, to=[user.confirmed_email])


def _confirmation_message(user: User, base_url: str) -> EmailMessage | None:
    if not user.is_active or not user.email:
        return None
    link = site_url(base_url) + reverse("email_confirm", args=[confirmation_token(user)])
    days = settings.ACCOUNT_EMAIL_CONFIRMATION_DAYS
    body = (
        f"Bonjour,\n\nPour confirmer que cette adresse est bien celle de votre compte Préau "
        f"(identifiant : {user.username}), ouvrez ce lien (valable {days} jours) :\n\n{link}\n\n"
        "Une adresse confirmée vous permet de recevoir un lien si vous oubliez votre mot de "
        "passe.\n\n-- \nPréau, l'ENT des collèges"
    )
    return EmailMessage("[Préau] Confirmez votre adresse e-mail", body, to=[user.email])


def send(kind: str, user_id: int, base_url: str) -> int:
    """The job's work: 1 when the message was handed to the mail server, 0 when the account
    no longer qualifies. A mail server that fails raises: the queue retries the job."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return 0
    build = _reset_message if kind == PASSWORD_RESET else _confirmation_message
    message = build(user, base_url)
    if message is None:
        return 0
    sent = message.send()
    log.info("account e-mail sent", extra={"kind": kind, "user": user_id})
    return sent

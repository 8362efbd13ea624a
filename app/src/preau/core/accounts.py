"""Account rules: activation codes, usernames, disabling (login throttling: preau.core.throttle)."""
from __future__ import annotations

import datetime as dt
import secrets
import unicodedata

from django.conf import settings
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from django.db.models import Q
from django.utils import timezone

from preau.core.models import Membership, User

# No 0/O, 1/I/L: codes are read aloud and typed by children.
CODE_ALPHABET = "ABCDEFGHJKMNPRSTUVWXYZ23456789"
CODE_LENGTH = 10
# Codes are random (≈ 49 bits), expire and are throttled: a light Argon2id is enough and lets
# ops hand out thousands of codes at once (≈ 5 ms each instead of ≈ 100 ms for passwords).
_CODE_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def _normalize_code(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def issue_activation_codes(users: list[User]) -> dict[int, str]:
    """Give each user a new activation code (returned in clear, once) and disable their
    password. Returns {user id: code}."""
    expires = timezone.now() + dt.timedelta(days=settings.ACTIVATION_CODE_DAYS)
    codes = {}
    for user in users:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        user.activation_code = _CODE_HASHER.hash(code)
        user.activation_expires = expires
        user.set_unusable_password()
        codes[user.pk] = code
    User.objects.bulk_update(users, ["activation_code", "activation_expires", "password"], batch_size=500)
    return codes


def issue_activation_code(user: User) -> str:
    return issue_activation_codes([user])[user.pk]


def check_activation_code(user: User, code: str) -> bool:
    if not user.activation_code or not user.activation_expires:
        return False
    if user.activation_expires < timezone.now():
        return False
    try:
        return _CODE_HASHER.verify(user.activation_code, _normalize_code(code))
    except (VerificationError, InvalidHashError):
        return False


def _ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")


def make_username(first_name: str, last_name: str, taken: set[str]) -> str:
    """`prenom.nom`, then `prenom.nom2`, ... unique among `taken` (which is updated)."""
    base = f"{_ascii_slug(first_name) or 'x'}.{_ascii_slug(last_name) or 'x'}"[:140]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}"
    taken.add(candidate)
    return candidate


def disable_in_establishment(user: User, establishment) -> None:
    """A local admin disables a user in their establishment only (sticky across imports); the
    account itself is disabled when no other establishment still gives access."""
    Membership.objects.filter(user=user, establishment=establishment).update(disabled=True)
    if not Membership.objects.current().filter(user=user).exists():
        user.is_active = False
        user.disabled_at = timezone.now()
        user.save(update_fields=["is_active", "disabled_at"])


def enable_in_establishment(user: User, establishment) -> None:
    Membership.objects.filter(user=user, establishment=establishment).update(disabled=False)
    if not user.is_active and user.merged_into_id is None:
        user.is_active = True
        user.disabled_at = None
        user.save(update_fields=["is_active", "disabled_at"])


def search_users(queryset, query: str):
    for word in query.split():
        queryset = queryset.filter(Q(user__last_name__icontains=word) | Q(user__first_name__icontains=word)
                                   | Q(user__username__icontains=word))
    return queryset

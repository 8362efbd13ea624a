"""Account rules: activation codes, usernames, disabling (login throttling: preau.core.throttle)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from django.conf import settings
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.lookups import Contains
from django.utils import timezone

from preau.core.models import (
    ClassGroup,
    Membership,
    OperationLog,
    Platform,
    User,
    folded,
    search_name,
)

# No 0/O, 1/I/L: codes are read aloud and typed by children.
CODE_ALPHABET = "ABCDEFGHJKMNPRSTUVWXYZ23456789"
CODE_LENGTH = 10
# Codes are random (≈ 49 bits), expire and are throttled: a light Argon2id is enough and lets
# ops hand out thousands of codes at once (≈ 5 ms each instead of ≈ 100 ms for passwords).
_CODE_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
# Who did what to which account, in which establishment (one JSON line each, never a code).
audit_log = logging.getLogger("preau.audit")


def _normalize_code(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def issue_activation_codes(
    users: list[User], establishment, *, by: str, via: str
) -> dict[int, str]:
    """Give each user a new activation code (returned in clear, once) and disable their
    password, audited in `establishment` as done `by` someone `via` a path. Returns
    {user id: code}."""
    expires = timezone.now() + dt.timedelta(days=settings.ACTIVATION_CODE_DAYS)
    codes = {}
    for user in users:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        user.activation_code = _CODE_HASHER.hash(code)
        user.activation_expires = expires
        user.set_unusable_password()
        codes[user.pk] = code
    User.objects.bulk_update(
        users, ["activation_code", "activation_expires", "password"], batch_size=500
    )
    audit("activation_code", establishment, users, by=by, via=via)
    return codes


def class_names(establishment, user_ids: list[int]) -> dict[int, str]:
    """{user id: the name of their class this school year} for the pupils among `user_ids`
    (what is printed beside a code: the activation_codes command, the letters)."""
    return dict(
        ClassGroup.objects.of(establishment)
        .filter(
            kind="class",
            school_year=Platform.current_school_year(),
            classmembership__user__in=user_ids,
        )
        .values_list("classmembership__user_id", "name")
    )


def issue_activation_code(user: User, establishment, *, by: str, via: str) -> str:
    return issue_activation_codes([user], establishment, by=by, via=via)[user.pk]


def audit(
    action: str, establishment, users: list[User], *, by: str, via: str, details: dict | None = None
) -> None:
    """Record an action on accounts: a row in the establishment's OperationLog (in the same
    transaction) and, once committed, a line on the `preau.audit` logger. `details`: what the
    action was about (a message hidden by the moderation, the console's search query), in both.
    Without an establishment (a lookup across establishments that found nobody), the line
    alone: there is no establishment to file it under, and the line still says who looked for
    what."""
    if not users and not details:
        return
    usernames = [u.username for u in users]
    if establishment is not None:
        OperationLog.objects.create(
            establishment=establishment,
            kind=action,
            summary={"by": by, "via": via, "users": usernames, **(details or {})},
        )
    line = {
        "action": action,
        "by": by,
        "via": via,
        "establishment": establishment.uai if establishment is not None else "",
        "users": ",".join(usernames),
        "count": len(usernames),
        **(details or {}),
    }
    transaction.on_commit(lambda: audit_log.info(action, extra=line))


@functools.cache
def _stand_in_hash() -> str:
    """The hash of a code nobody knows, checked when an account has no code to check."""
    return _CODE_HASHER.hash(secrets.token_hex(16))


def check_activation_code(user: User | None, code: str) -> bool:
    """Whether `code` is `user`'s current activation code. It takes as long (one light hash)
    for an unknown account, an activated one or an expired code as for a wrong code, so that
    its time does not tell them apart."""
    usable = (
        user is not None
        and bool(user.activation_code)
        and user.activation_expires is not None
        and user.activation_expires >= timezone.now()
    )
    try:
        matches = _CODE_HASHER.verify(
            user.activation_code if usable and user else _stand_in_hash(), _normalize_code(code)
        )
    except (VerificationError, InvalidHashError):
        return False
    return usable and matches


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


def local_admin_refusal(actor: User, membership: Membership) -> str | None:
    """Why `actor` may not give `membership.user` a new activation code, nor disable or re-enable
    them in `membership.establishment` from its directory; None when they may.

    The one rule for acting on an account from an establishment: a code resets the account
    everywhere, so a local admin (ADML) acts only on accounts whose every current membership
    (not gone, not disabled) is in their establishment. Gone or disabled memberships grant
    nothing, neither to the actor nor over the target. Platform admins (ADMC) act on every
    account. Nobody acts on their own account from a directory."""
    user = membership.user
    if user.pk == actor.pk:
        return (
            "C'est votre propre compte : il ne peut pas être modifié depuis l'annuaire. "
            "Demandez à un autre administrateur si besoin."
        )
    if actor.is_platform_admin:
        return None
    return _refusal_to_a_local_admin(actor, membership)


def _refusal_to_a_local_admin(actor: User, membership: Membership) -> str | None:
    """local_admin_refusal's rules for an actor who is not a platform admin."""
    user, est = membership.user, membership.establishment
    if (
        not Membership.objects.current()
        .filter(user=actor, establishment=est, is_local_admin=True)
        .exists()
    ):
        return "Seuls les administrateurs de l'établissement peuvent modifier les comptes."
    if user.is_platform_admin:
        return "Ce compte est celui d'un administrateur de la plateforme : seul l'administrateur central (ADMC) peut le modifier."
    if membership.gone_since is not None:
        return (
            f"Cette personne n'est plus dans l'annuaire de l'établissement depuis le "
            f"{membership.gone_since:%d/%m/%Y} : son compte ne peut plus être modifié ici."
        )
    if Membership.objects.current().filter(user=user).exclude(establishment=est).exists():
        return (
            "Ce compte est aussi actif dans un autre établissement : pour ne pas toucher à ses "
            "droits là-bas, seul l'administrateur central de Préau (ADMC) peut lui donner un "
            "nouveau code d'activation, le désactiver ou le réactiver. Contactez-le en lui "
            f"indiquant l'identifiant « {user.username} »."
        )
    return None


def disable_in_establishment(user: User, establishment, *, by: str, via: str) -> None:
    """Disable the user's membership in this establishment only (sticky across imports): the
    account itself, and its access to other establishments, are untouched."""
    Membership.objects.filter(user=user, establishment=establishment).update(disabled=True)
    audit("account_disabled", establishment, [user], by=by, via=via)


def enable_in_establishment(user: User, establishment, *, by: str, via: str) -> None:
    memberships = Membership.objects.filter(user=user, establishment=establishment)
    memberships.update(disabled=False)
    if not user.is_active and user.merged_into_id is None and memberships.present().exists():
        # Only accounts disabled by earlier releases, which disabled the whole account along
        # with its last membership (retention disables accounts whose memberships are gone).
        user.is_active = True
        user.disabled_at = None
        user.save(update_fields=["is_active", "disabled_at"])
    audit("account_enabled", establishment, [user], by=by, via=via)


def name_search(query: str, prefix: str = "") -> list[Contains]:
    """One condition per word of `query`: the word is in the person's name (last or first),
    whatever its accents and case ("Helene", "HELENE" and "hél" find "Hélène"). PostgreSQL
    folds both sides (unaccent, lower case) and answers from the trigram index
    `core_user_name_trgm` (migration core.0007); `prefix` leads to the user ("user__")."""
    return [Contains(search_name(prefix), folded(Value(word))) for word in query.split()]


def search_users(queryset, query: str):
    """Members (a Membership queryset) whose name holds each word, or whose login does."""
    for word, in_name in zip(query.split(), name_search(query, "user__"), strict=True):
        queryset = queryset.filter(Q(in_name) | Q(user__username__icontains=word))
    return queryset

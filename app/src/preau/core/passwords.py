"""Password policy per the CNIL's deliberation 2022-100 (AUTH_PASSWORD_VALIDATORS).

- Adults (staff, parents: any account that is not only a pupil, and operators): its 80-bit
  example, at least 12 characters of the 4 kinds (lower case, upper case, digit, other).
- Pupils (accounts whose memberships are all ELV; their login is throttled, preau.core.throttle):
  its "restricted access" example, at least 8 characters of 3 of the 4 kinds, so that an
  11-year-old can choose one.
- Common passwords refused: Django's CommonPasswordValidator (exact match) plus
  FrenchCommonPasswordValidator, which compares a normalised form of the password (lower case,
  accents removed, leading and trailing digits and symbols stripped, and its letters alone)
  with our French list (data/mots-de-passe-courants.txt) and Django's list normalised alike:
  "azertyuiop12", "Azertyuiop12!" and "Motdepasse2024!" are refused.

The rule of an account is told to it next to the field (rule_text()): the forms where a
password is chosen set their help text from it.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

FRENCH_LIST = Path(__file__).parent / "data" / "mots-de-passe-courants.txt"
KINDS = ("minuscule", "majuscule", "chiffre", "caractère spécial")


@dataclass(frozen=True)
class Rule:
    min_length: int
    min_kinds: int
    who: str


ADULT = Rule(min_length=12, min_kinds=4, who="adulte")
PUPIL = Rule(min_length=8, min_kinds=3, who="élève")


def is_pupil(user) -> bool:
    """Only ELV memberships (among those not gone), and no platform role."""
    if user is None or user.pk is None or user.is_superuser or user.is_staff:
        return False
    profiles = set(
        user.memberships.filter(gone_since__isnull=True).values_list("profile", flat=True)
    )
    return profiles == {"ELV"}


def rule_for(user) -> Rule:
    return PUPIL if is_pupil(user) else ADULT


def rule_sentence(rule: Rule) -> str:
    if rule.min_kinds == len(KINDS):
        kinds = "avec des minuscules, des majuscules, des chiffres et des caractères spéciaux"
    else:
        kinds = (
            f"avec au moins {rule.min_kinds} types de caractères parmi minuscules, majuscules, "
            "chiffres et caractères spéciaux"
        )
    return f"au moins {rule.min_length} caractères, {kinds}"


def rule_text(user=None) -> str:
    """The help text of a new password field: the rule of `user`, or both when not known."""
    common = " Pas de mot de passe courant (azerty, motdepasse, soleil…)."
    if user is None:
        return f"Élèves : {rule_sentence(PUPIL)}. Adultes : {rule_sentence(ADULT)}.{common}"
    return f"{rule_sentence(rule_for(user)).capitalize()}.{common}"


def kinds_of(password: str) -> set[str]:
    kinds = set()
    for char in password:
        if char.islower():
            kinds.add(KINDS[0])
        elif char.isupper():
            kinds.add(KINDS[1])
        elif char.isdigit():
            kinds.add(KINDS[2])
        else:
            kinds.add(KINDS[3])
    return kinds


class ProfilePasswordValidator:
    """Length and kinds of characters, per the account's rule (adult or pupil)."""

    def validate(self, password: str, user=None) -> None:
        rule = rule_for(user)
        errors = []
        if len(password) < rule.min_length:
            errors.append(
                ValidationError(
                    f"Ce mot de passe est trop court : au moins {rule.min_length} caractères "
                    f"(il en a {len(password)}).",
                    code="password_too_short",
                )
            )
        kinds = kinds_of(password)
        if len(kinds) < rule.min_kinds:
            missing = ", ".join(k for k in KINDS if k not in kinds)
            if rule.min_kinds == len(KINDS):
                text = f"Il doit contenir les 4 types de caractères ; il manque : {missing}."
            else:
                text = (
                    f"Il doit contenir au moins {rule.min_kinds} types de caractères parmi "
                    f"minuscules, majuscules, chiffres et caractères spéciaux ; il manque : "
                    f"{missing}."
                )
            errors.append(ValidationError(text, code="password_too_simple"))
        if errors:
            raise ValidationError(errors)

    def get_help_text(self) -> str:
        return rule_text()


def normalise(password: str) -> str:
    """Lower case, accents removed, leading and trailing digits and symbols stripped."""
    text = unicodedata.normalize("NFKD", password.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def _forms(password: str) -> set[str]:
    core = normalise(password)
    return {core, "".join(c for c in core if c.isalpha())} - {""}


@functools.cache
def common_words() -> frozenset[str]:
    """Our French list and Django's common passwords, normalised."""
    words: set[str] = set()
    for line in FRENCH_LIST.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            words |= _forms(line.strip())
    for common in CommonPasswordValidator().passwords:
        words |= _forms(common)
    return frozenset(words)


class FrenchCommonPasswordValidator:
    """Refuses a password whose normalised form is a common password or word."""

    def validate(self, password: str, user=None) -> None:
        if _forms(password) & common_words():
            raise ValidationError(
                "Ce mot de passe est trop courant (un mot ou un mot de passe très utilisé, "
                "même avec des chiffres ou des symboles autour) : choisissez-en un autre.",
                code="password_too_common",
            )

    def get_help_text(self) -> str:
        return "Pas de mot de passe courant (azerty, motdepasse, soleil…)."

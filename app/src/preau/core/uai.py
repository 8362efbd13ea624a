"""UAI (ex-RNE) identifiers: 7 characters + a check letter derived from them."""

import re

# 23 letters: the alphabet without I, O and Q.
CHECK_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ"
_SHAPE = re.compile(r"^[0-9]{3}[0-9A-Z][0-9]{3}[A-Z]$")


def check_letter(first7: str) -> str:
    return CHECK_ALPHABET[int(first7) % 23]


def uai_error(value: str) -> str | None:
    """Return a French message describing what is wrong with `value`, or None if valid."""
    if not isinstance(value, str) or not _SHAPE.match(value or ""):
        return f"UAI « {value} » mal formé (attendu : 7 chiffres puis une lettre, ex. 0820021C)"
    if not value[:7].isdigit():
        # Some UAIs carry a letter in position 4 (e.g. Corsica 2A/2B); we only host numeric ones.
        return f"UAI « {value} » non pris en charge (7 premiers caractères non numériques)"
    expected = check_letter(value[:7])
    if value[7] != expected:
        return f"UAI « {value} » : lettre de contrôle invalide (attendu {value[:7]}{expected})"
    return None


def is_valid_uai(value: str) -> bool:
    return uai_error(value) is None


def normalize(value: str) -> str:
    return (value or "").strip().upper()

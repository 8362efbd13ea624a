"""An assertion's attributes → the account the AAF feed created, by stable identifiers only.

Never names, never birth dates (homonyms, typos: docs/federation.md). Per IdP and profile:

- ÉduConnect, pupil (FrEduCtPersonAffiliation eleve…): FrEduCtEleveINE = `User.ine` (the feed's
  ENTEleveINE).
- ÉduConnect, parent (resp…): FrEduCtRefId's `{AAF}` vectors name the person's AAF identifier,
  = `User.join_key` (the feed's ENTPersonJointure, also with its `ACADEMIE$` prefix); without
  one, the legal guardian linked (ParentLink) to every child whose INE the assertion carries,
  when there is exactly one. With both, the account found must be a guardian of one of them.
- Agents IdP: the attribute [federation] agents_join_attribute (ENTPersonJointure by default)
  = `User.join_key`.

Only accounts with a current membership of that IdP's profiles in an active establishment
match: an account found in none is refused (no account is ever created here), two accounts
for one person are refused as ambiguous (the audit line names them, for the operator). An
account that also holds rights the IdP does not vouch for (a current membership of another
profile, platform administration) is refused as well: a parent's ÉduConnect login never opens
the staff rights the same account has elsewhere.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from preau.core.models import Establishment, Membership, ParentLink, Profile, User
from preau.federation.saml import IDPS, conf, enabled_idps

# ÉduConnect names its attributes by OID (urn:oid:…); the friendly names are accepted too.
# Sources of the OIDs: docs/federation.md.
EDUCONNECT_OIDS = {
    "urn:oid:1.3.6.1.4.1.20326.10.999.1.57": "FrEduCtId",
    "urn:oid:1.3.6.1.4.1.20326.10.999.1.7": "FrEduCtPersonAffiliation",
    "urn:oid:1.3.6.1.4.1.20326.10.999.1.72": "FrEduCtEleveUAI",
}


class Refusal(Exception):
    """A federated login refused: `reason` for the audit log, `message` for the person."""

    def __init__(self, reason: str, message: str, status: int = 403, **details) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.status = status
        self.details = details


UNKNOWN = (
    "Votre compte {idp} est valide, mais aucun compte Préau ne lui correspond dans un "
    "établissement ouvert : l'annuaire de votre établissement ne vous connaît pas (encore). "
    "Adressez-vous au secrétariat de l'établissement."
)
AMBIGUOUS = (
    "Votre compte {idp} correspond à plusieurs comptes Préau : la connexion est refusée pour "
    "ne pas vous ouvrir le compte de quelqu'un d'autre. L'incident est signalé ; adressez-vous "
    "au secrétariat de l'établissement."
)


def attributes(ava: dict) -> dict[str, list[str]]:
    """The assertion's attributes by friendly name, values stripped, empty ones dropped."""
    named: dict[str, list[str]] = {}
    for name, values in ava.items():
        key = EDUCONNECT_OIDS.get(name, name)
        named.setdefault(key, []).extend(str(v).strip() for v in values if str(v).strip())
    return named


def _missing(idp_key: str, name: str) -> Refusal:
    return Refusal(
        "missing_attribute",
        f"La réponse de {IDPS[idp_key].label} ne contient pas l'attribut {name}, nécessaire "
        "pour retrouver votre compte. Réessayez plus tard ; si cela persiste, signalez-le à "
        "l'établissement.",
        status=400,
        attribute=name,
    )


BEYOND = (
    "Ce compte Préau a aussi des droits que {idp} ne couvre pas (un autre profil dans un "
    "établissement, ou l'administration de la plateforme) : la connexion par {idp} lui est "
    "refusée, pour que ces droits ne s'ouvrent que par la connexion qui leur correspond. "
    "Connectez-vous avec votre identifiant et votre mot de passe Préau ; si ces droits ne sont "
    "plus les vôtres, adressez-vous au secrétariat de l'établissement."
)


def _members(idp_key: str, profiles=None) -> QuerySet[User]:
    """Active accounts with a current membership of `profiles` (by default the IdP's) in an
    active establishment, each with `beyond_idp`: whether it has a current membership of a
    profile the IdP does not serve (in any establishment, active or not). One statement."""
    served = IDPS[idp_key].profiles
    memberships = Membership.objects.current().filter(
        profile__in=profiles or served, establishment__status=Establishment.Status.ACTIVE
    )
    beyond = Membership.objects.current().filter(user=OuterRef("pk")).exclude(profile__in=served)
    return User.objects.filter(
        is_active=True, pk__in=memberships.values("user_id"), merged_into__isnull=True
    ).annotate(beyond_idp=Exists(beyond))


def _one(idp_key: str, candidates: QuerySet[User], **details) -> User:
    found = list(candidates.distinct()[:5])
    label = IDPS[idp_key].label
    if not found:
        raise Refusal("unknown_person", UNKNOWN.format(idp=label), **details)
    if len(found) > 1:
        raise Refusal(
            "ambiguous_person",
            AMBIGUOUS.format(idp=label),
            candidates=",".join(str(u.pk) for u in found),
            **details,
        )
    return found[0]


def aaf_ids(values: list[str]) -> list[str]:
    """FrEduCtRefId's `{AAF}<académie>|<…>|<identifier>` vectors → the identifiers."""
    ids = []
    for value in values:
        if value.startswith("{AAF}"):
            parts = value[len("{AAF}") :].split("|")
            if len(parts) == 3 and parts[2]:
                ids.append(parts[2])
    return ids


def _by_join_key(ids: list[str]) -> Q:
    """The feed's ENTPersonJointure is the identifier, possibly as `AC-ACADEMIE$identifier`."""
    query = Q(join_key__in=ids)
    for ident in ids:
        query |= Q(join_key__endswith=f"${ident}")
    return query


def match(idp_key: str, ava: dict) -> User:
    """The account the assertion names, whose rights the IdP vouches for all of; else a
    Refusal."""
    user = _match(idp_key, attributes(ava))
    beyond = user.beyond_idp  # type: ignore[attr-defined]  # _members' annotation
    if beyond or user.is_platform_admin:
        raise Refusal(
            "rights_beyond_idp", BEYOND.format(idp=IDPS[idp_key].label), user_id=str(user.pk)
        )
    return user


def _match(idp_key: str, attrs: dict[str, list[str]]) -> User:
    if idp_key == "agents":
        name = conf()["agents_join_attribute"]
        keys = attrs.get(name)
        if not keys:
            raise _missing(idp_key, name)
        return _one(idp_key, _members(idp_key).filter(join_key__in=keys))
    affiliation = (attrs.get("FrEduCtPersonAffiliation") or [""])[0].lower()
    ines = [ine.upper() for ine in attrs.get("FrEduCtEleveINE", [])]
    if affiliation.startswith("eleve"):
        if len(ines) != 1:
            raise _missing(idp_key, "FrEduCtEleveINE")
        return _one(idp_key, _members(idp_key, [Profile.ELV]).filter(ine=ines[0]), profile="ELV")
    if affiliation.startswith("resp"):
        return _parent(idp_key, aaf_ids(attrs.get("FrEduCtRefId", [])), ines)
    raise Refusal(
        "unsupported_profile",
        "Votre compte ÉduConnect n'est ni celui d'un élève ni celui d'un responsable : "
        "Préau ne peut pas vous connecter avec lui.",
        affiliation=affiliation[:32],
    )


def _parent(idp_key: str, ids: list[str], ines: list[str]) -> User:
    parents = _members(idp_key, [Profile.TUT])
    if ids:
        user = _one(idp_key, parents.filter(_by_join_key(ids)), profile="TUT")
        links = ParentLink.objects.filter(parent=user, legal_guardian=True, child__ine__in=ines)
        if ines and not links.exists():
            raise Refusal(
                "inconsistent_person",
                AMBIGUOUS.format(idp=IDPS[idp_key].label),
                candidates=str(user.pk),
            )
        return user
    if not ines:
        raise _missing(idp_key, "FrEduCtRefId")
    for ine in set(ines):
        parents = parents.filter(
            pk__in=ParentLink.objects.filter(legal_guardian=True, child__ine=ine).values(
                "parent_id"
            )
        )
    return _one(idp_key, parents, profile="TUT")


def record_login(user: User, idp_key: str) -> None:
    """Remember the account's first successful login through an IdP (which one, when): from
    then on it has a federated login, and activation letters leave it out. Later logins keep
    the first record (one conditional UPDATE, nothing when it is there already)."""
    if user.federated_since is None:
        User.objects.filter(pk=user.pk, federated_since__isnull=True).update(
            federated_idp=idp_key, federated_since=timezone.now()
        )


def federated_logins(prefix: str = "") -> Q | None:
    """The accounts that have logged in through an IdP enabled now (a condition on User, or on
    a relation to it through `prefix`, e.g. "user__"); None when no IdP is enabled. Such
    accounts need no activation code (preau.ent.letters leaves them out). An account whose IdP
    was since disabled has no way in but a code: it gets a letter again."""
    keys = [idp.key for idp in enabled_idps()]
    if not keys:
        return None
    return Q(**{f"{prefix}federated_since__isnull": False, f"{prefix}federated_idp__in": keys})

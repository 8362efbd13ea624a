"""The platform map: which groups exist, which roles, services, units and packages each carries,
and the order hosts are patched in.

One declaration, playbooks/group_vars/all/platform.yml (the `preau_platform` variable), read by
Ansible (site.yml) and here; every Python table of groups derives from these functions.
tests/unit/test_platform_map.py fails if site.yml, the roles or a module drift from it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .errors import OpsError
from .paths import PLAYBOOKS

MAP_FILE = PLAYBOOKS / "group_vars" / "all" / "platform.yml"
VARIABLE = "preau_platform"
EVERY_HOST = "all"  # the map's part every host carries; not an inventory group
_GROUP_LISTS = ("status", "units", "packages", "package_vars")


def _fail(problem: str) -> OpsError:
    return OpsError(
        f"the platform map {MAP_FILE} is invalid: {problem}",
        "fix the file; tests/unit/test_platform_map.py says what must match",
    )


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{where} must be a list of names")
    return tuple(value)


@functools.cache
def _map() -> dict[str, Any]:
    try:
        data = yaml.safe_load(MAP_FILE.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(str(exc)) from exc
    platform = data.get(VARIABLE) if isinstance(data, dict) else None
    if not isinstance(platform, dict):
        raise _fail(f"no `{VARIABLE}` mapping")
    _check(platform)
    return platform


def _check(platform: dict[str, Any]) -> None:
    groups = platform.get("groups")
    if not isinstance(groups, dict) or EVERY_HOST not in groups:
        raise _fail(f"groups must be a mapping that includes `{EVERY_HOST}`")
    for name, entry in groups.items():
        for key in _GROUP_LISTS:
            _names((entry or {}).get(key), f"groups.{name}.{key}")
    roles = platform.get("roles")
    if not isinstance(roles, dict) or not roles:
        raise _fail("roles must be a mapping of role names to groups")
    for role, role_groups in roles.items():
        if unknown := set(_names(role_groups, f"roles.{role}")) - set(groups):
            raise _fail(f"roles.{role} names unknown groups {sorted(unknown)}")
    order = _names(platform.get("patch_order"), "patch_order")
    if sorted(order) != sorted(set(groups) - {EVERY_HOST}):
        raise _fail("patch_order must name every inventory group once")
    _names(platform.get("not_in_container_units"), "not_in_container_units")
    _names(platform.get("masked_units"), "masked_units")


def _group(name: str) -> dict[str, Any]:
    entry = _map()["groups"].get(name)
    if entry is None:
        raise OpsError(
            f"{name!r} is not a group of the platform map", "groups are " + ", ".join(groups())
        )
    return dict(entry)


def groups() -> tuple[str, ...]:
    """The inventory groups the platform knows, in the map's order."""
    return tuple(g for g in _map()["groups"] if g != EVERY_HOST)


def required_groups() -> tuple[str, ...]:
    """The groups an inventory must declare, each with at least one host."""
    return tuple(g for g in groups() if _group(g).get("required"))


def role_groups() -> dict[str, tuple[str, ...]]:
    """Role -> the groups whose hosts run it (`all`: every host), in site.yml's play order."""
    return {role: tuple(names) for role, names in _map()["roles"].items()}


def roles_for(host_groups: Iterable[str]) -> tuple[str, ...]:
    """The roles a host of these groups runs, in play order."""
    wanted = {EVERY_HOST, *host_groups}
    return tuple(role for role, names in role_groups().items() if wanted & set(names))


# A bare `{{ variable }}` in a value: the one form of Jinja the tools resolve themselves.
REFERENCE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def render(name: str, values: Mapping[str, Any]) -> str:
    """A map entry with its `{{ variable }}` references replaced by a host's values (the
    PostgreSQL unit names the major version: `postgresql@{{ postgresql_version }}-main`)."""

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise _fail(f"{name!r} names {match.group(1)!r}, which the host does not set")
        return str(values[match.group(1)])

    return REFERENCE.sub(value, name)


def services(host_groups: Iterable[str], values: Mapping[str, Any]) -> list[str]:
    """Units `status` checks on a host of these groups (its variables: `values`), every
    host's first, no repeats."""
    names: list[str] = []
    for group in (EVERY_HOST, *host_groups):
        if group in _map()["groups"]:
            rendered = (render(s, values) for s in _group(group)["status"])
            names += [s for s in rendered if s not in names]
    return names


def units(group: str) -> tuple[str, ...]:
    """Units a host of this group (or `all`) must have enabled and active."""
    return tuple(_group(group)["units"])


def packages(group: str) -> tuple[str, ...]:
    """Packages a host of this group (or `all`) gets without a package variable."""
    return tuple(_group(group)["packages"])


def package_vars(group: str) -> tuple[str, ...]:
    """The roles' variables that list the packages of this group (or `all`)."""
    return tuple(_group(group)["package_vars"])


def not_in_container_units() -> tuple[str, ...]:
    """Units configured everywhere but started only on real machines."""
    return tuple(_map()["not_in_container_units"])


def patch_order() -> tuple[str, ...]:
    """Groups in the order a rolling OS update patches their hosts."""
    return tuple(_map()["patch_order"])

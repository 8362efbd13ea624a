"""The one inventory reader: every tool (Ansible, pyinfra, Fabric, testinfra) gets its hosts,
groups and variables from here, loaded once through Ansible's own Python API.

Validation happens before anything touches a host: the layout, the groups, every variable
name (against the roles' `meta/argument_specs.yml`, the platform's `preau_*` variables and
Ansible's connection variables) and every value the roles declare a type for. Each problem is
reported with the file and the key, and what was expected.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import getpass
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import platform
from .errors import OpsError
from .paths import INVENTORIES, LAB_INVENTORY, PLAYBOOKS, ROLES, STATE_DIR

if TYPE_CHECKING:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

Spec = dict[str, dict[str, Any]]  # a role's options, by variable name (argument_specs' shape)
# The site playbook's group_vars/all: the wiring between the roles and the platform map.
WIRING_DIR = PLAYBOOKS / "group_vars" / "all"
Origins = dict[str, list[Path]]  # the variables files that set each variable, in reading order

# The groups and the roles each runs come from the platform map (preau_ops/platform.py): a
# host's variables are checked against the specs of the roles it will run.
REQUIRED_GROUPS = platform.required_groups()
KNOWN_GROUPS = {*platform.groups(), "all", "ungrouped"}

# Platform-wide variables, read by several roles and by the CLI (same shape as a role's
# argument_specs options, and checked the same way).
PREAU_VARS: Spec = {
    "preau_domain": {"type": "str", "description": "public DNS name of the ENT"},
    "preau_environment": {
        "type": "str",
        "choices": ["lab", "staging", "production"],
        "description": "which environment this inventory describes",
    },
    "preau_ssh_known_hosts_file": {"type": "path", "description": "known_hosts file the tools use"},
    "preau_lab_topology": {
        "type": "str",
        "choices": ["single", "standard", "scaled", "prodlike"],
        "description": "set by `lab up`",
    },
    "preau_private_address": {
        "type": "str",
        "description": "the host's address on the private service network (all host-to-host "
        "traffic); without it, ansible_host serves for both",
    },
    "preau_lab_ssh_public_key": {"type": "str", "description": "set by `lab up`"},
    "preau_release_keep": {"type": "int", "description": "app releases kept on app hosts"},
    "preau_operator": {"type": "str", "description": "name recorded in audit logs"},
    "preau_disk_full_percent": {
        "type": "int",
        "description": "operations refuse to start when "
        "a host's / or /srv/preau is this full (default 90)",
    },
    "preau_audit_never_activated_days": {
        "type": "int",
        "description": "the audit (DATA-04) lists members never logged in this many days "
        "after their account was created (default 30: an activation code's validity)",
    },
    "preau_audit_history_days": {
        "type": "int",
        "description": "each audit's audit.json is kept this many days in the inventory's "
        "history, the newest always (default 400; 0 keeps every one)",
    },
    # The département's SMTP relay, declared once: the app's notification e-mails and
    # Alertmanager's alerts go through it (playbooks/group_vars/all/wiring.yml derives their
    # settings); its password is the vault's vault_smtp_relay_password.
    "preau_smtp_relay_host": {
        "type": "str",
        "description": "the SMTP relay's name or address (empty: the platform sends no e-mail)",
    },
    "preau_smtp_relay_port": {"type": "int", "description": "its submission port (587)"},
    "preau_smtp_relay_starttls": {"type": "bool", "description": "STARTTLS required (true)"},
    "preau_smtp_relay_user": {"type": "str", "description": "the account the platform uses"},
    # The audit's waivers (preau_ops/audit/waivers.py checks each entry when an audit starts).
    "audit_waivers": {
        "type": "list",
        "elements": "dict",
        "description": "accepted deviations: control, hosts (host, group or all), "
        "justification, accepted_by, expires (YYYY-MM-DD); group_vars/all/audit.yml",
    },
    "preau_smtp_relay_ca_certificate": {
        "type": "str",
        "description": "PEM of the CA that signed the relay's certificate, when it is not one "
        "Debian trusts (the hosts then trust it)",
    },
}
CONNECTION_VARS = {
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_method",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_python_interpreter",
    "ansible_connection",
    "ansible_ssh_pipelining",
}

VAULT_HEADER = "$ANSIBLE_VAULT"
LAB_VAULT_PASSWORD = STATE_DIR / "vault-password"


@dataclass
class Host:
    """One server as every tool sees it."""

    name: str
    groups: list[str]
    vars: dict[str, Any]

    @property
    def address(self) -> str:
        """The management address: where the tools connect (through the bastion if any)."""
        return str(self.vars.get("ansible_host", self.name))

    @property
    def private_address(self) -> str:
        """Where the other hosts reach this one (the private service network), as the roles'
        filter preau_address has it (roles/base/filter_plugins/preau_network.py)."""
        return str(self.vars.get("preau_private_address") or self.address)

    @property
    def port(self) -> int:
        return int(self.vars.get("ansible_port", 22))

    @property
    def user(self) -> str:
        return str(self.vars.get("ansible_user") or getpass.getuser())

    @property
    def key_file(self) -> str | None:
        key = self.vars.get("ansible_ssh_private_key_file")
        return str(key) if key else None

    @property
    def known_hosts_file(self) -> str | None:
        path = self.vars.get("preau_ssh_known_hosts_file")
        return str(path) if path else None


@dataclass
class Inventory:
    path: Path
    hosts: dict[str, Host]
    groups: dict[str, list[str]]
    vault_password_file: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_lab(self) -> bool:
        return self.path.resolve() == LAB_INVENTORY.resolve()

    def hosts_in(self, group: str) -> list[Host]:
        return [self.hosts[name] for name in self.groups.get(group, [])]

    def limited(self, pattern: str | None) -> list[Host]:
        """Hosts matching a comma-separated list of host or group names (None: all)."""
        if not pattern:
            return list(self.hosts.values())
        wanted: dict[str, Host] = {}
        for part in (p.strip() for p in pattern.split(",") if p.strip()):
            if part in self.hosts:
                wanted[part] = self.hosts[part]
            elif part in self.groups:
                wanted.update({h: self.hosts[h] for h in self.groups[part]})
            else:
                raise OpsError(
                    f"--limit {part!r} matches no host or group of {self.name}",
                    "hosts: " + ", ".join(self.hosts),
                )
        return list(wanted.values())


# --------------------------------------------------------------------------- resolution


def resolve_path(value: str | None) -> Path:
    """`-i` accepts an inventory directory, its hosts.yml, or a name under inventories/."""
    if value is None:
        path = LAB_INVENTORY
    else:
        path = Path(value)
        if not path.exists() and (INVENTORIES / value).exists():
            path = INVENTORIES / value
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise OpsError(
            f"inventory {value!r} not found", "give a directory such as inventories/production (-i)"
        )
    if not (path / "hosts.yml").is_file():
        if path.resolve() == LAB_INVENTORY.resolve():
            raise OpsError("the lab has no hosts yet", "run `./deploy.py lab up` first")
        raise OpsError(
            f"{path}/hosts.yml is missing",
            "an inventory is a directory with hosts.yml, group_vars/, host_vars/",
        )
    return path


def vault_password_file(path: Path, given: str | None) -> Path | None:
    if given:
        return Path(given)
    if os.environ.get("PREAU_VAULT_PASSWORD_FILE"):
        return Path(os.environ["PREAU_VAULT_PASSWORD_FILE"])
    if path.resolve() == LAB_INVENTORY.resolve() and LAB_VAULT_PASSWORD.exists():
        return LAB_VAULT_PASSWORD
    return None


def vault_files(path: Path) -> list[Path]:
    """The inventory's ansible-vault files (those that start with the vault header)."""
    return [f for f in var_files(path) if f.read_text(errors="replace").startswith(VAULT_HEADER)]


def _read_vault_password(path: Path, password_file: Path | None) -> bytes | None:
    if not vault_files(path):
        return None
    if password_file is not None:
        try:
            return password_file.read_bytes().strip()
        except OSError as exc:
            raise OpsError(f"cannot read the vault password file {password_file}: {exc}") from exc
    if sys.stdin.isatty():
        return getpass.getpass(f"Vault password for {path.name}: ").encode()
    raise OpsError(
        f"{path.name} has ansible-vault files and no vault password was given",
        "pass --vault-password-file FILE or set PREAU_VAULT_PASSWORD_FILE",
    )


# --------------------------------------------------------------------------- validation


def var_files(path: Path) -> list[Path]:
    """The inventory's variables files: group_vars and host_vars, files or directories."""
    files: list[Path] = []
    for kind in ("group_vars", "host_vars"):
        base = path / kind
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if entry.is_dir():
                files += sorted(
                    f
                    for f in entry.rglob("*")
                    if f.suffix in (".yml", ".yaml") or f.name == "vault.yml"
                )
            elif entry.suffix in (".yml", ".yaml"):
                files.append(entry)
    return files


def _target_of(file: Path, path: Path) -> tuple[str, str]:
    """('group_vars'|'host_vars', name) for a variables file."""
    rel = file.relative_to(path)
    name = rel.parts[1]
    if len(rel.parts) == 2:
        name = Path(name).stem
    return rel.parts[0], name


def role_specs() -> dict[str, Spec]:
    """Options of each role's main entry point, from roles/*/meta/argument_specs.yml."""
    specs: dict[str, Spec] = {}
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        data = yaml.safe_load(spec_file.read_text()) or {}
        main = (data.get("argument_specs") or {}).get("main") or {}
        specs[spec_file.parent.parent.name] = main.get("options") or {}
    specs["preau"] = PREAU_VARS
    return specs


def allowed_variables(specs: dict[str, Spec] | None = None) -> set[str]:
    specs = role_specs() if specs is None else specs
    names = set(CONNECTION_VARS)
    for options in specs.values():
        names |= set(options)
    return names


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, file: Path, key: str | None, message: str) -> None:
        where = f"{_display(file)}" + (f": {key}" if key else "")
        self.items.append(f"{where}: {message}")

    def raise_if_any(self, inventory: Path) -> None:
        if self.items:
            listing = "\n".join(f"  - {item}" for item in self.items)
            raise OpsError(
                f"inventory {_display(inventory)} is invalid "
                f"({len(self.items)} problem{'s' if len(self.items) > 1 else ''}):\n" + listing,
                "nothing was run; fix the inventory and try again",
            )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(INVENTORIES.parent.resolve()))
    except ValueError:
        return str(path)


def _check_name(
    problems: _Problems, file: Path, key: str, allowed: set[str], in_vault_file: bool
) -> None:
    if key == platform.VARIABLE:
        problems.add(
            file,
            key,
            f"the platform map is {_display(platform.MAP_FILE)}; an inventory cannot set it",
        )
        return
    if key.startswith("vault_"):
        if not in_vault_file:
            problems.add(
                file,
                key,
                "secrets (vault_*) belong in group_vars/all/vault.yml, "
                "encrypted with ansible-vault",
            )
        return
    if key not in allowed:
        close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.75)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else "not a variable of any role (see roles/*/meta/argument_specs.yml)"
        )
        problems.add(file, key, f"unknown variable: {hint}")


def _load_yaml(problems: _Problems, file: Path, loader: DataLoader) -> dict[str, Any] | None:
    try:
        if file.read_text(errors="replace").startswith(VAULT_HEADER):
            data = loader.load_from_file(str(file), unsafe=True)
        else:
            data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        problems.add(file, None, f"not valid YAML{line}: {getattr(exc, 'problem', exc)}")
        return None
    except Exception as exc:  # vault errors and the like come as Ansible exceptions
        problems.add(file, None, f"cannot be read: {exc}")
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.add(file, None, f"must be a mapping of variables, not {type(data).__name__}")
        return None
    return data


def _walk_hosts_file(
    problems: _Problems, file: Path, data: Any, allowed: set[str]
) -> tuple[set[str], dict[str, set[str]]]:
    """Check hosts.yml's structure; return (hosts, groups) as declared."""
    hosts: set[str] = set()
    groups: dict[str, set[str]] = {}
    if not isinstance(data, dict) or set(data) != {"all"}:
        problems.add(file, None, "must have a single top-level key `all:`")
        return hosts, groups

    def walk(name: str, node: Any, trail: str) -> None:
        if node is None:
            node = {}
        if not isinstance(node, dict):
            problems.add(file, trail, "must be a mapping (hosts/children/vars)")
            return
        for key in node:
            if key not in ("hosts", "children", "vars"):
                problems.add(
                    file,
                    f"{trail}.{key}",
                    "unexpected key: a group has only hosts, children and vars",
                )
        for var in node.get("vars") or {}:
            _check_name(problems, file, var, allowed, False)
        members = groups.setdefault(name, set())
        for host, hvars in (node.get("hosts") or {}).items():
            hosts.add(host)
            members.add(host)
            for var in hvars or {}:
                _check_name(problems, file, var, allowed, False)
        for child, child_node in (node.get("children") or {}).items():
            if child not in KNOWN_GROUPS:
                close = difflib.get_close_matches(child, REQUIRED_GROUPS, n=1)
                problems.add(
                    file,
                    f"{trail}.children.{child}",
                    "unknown group"
                    + (
                        f": did you mean {close[0]!r}?"
                        if close
                        else f"; groups are {', '.join(REQUIRED_GROUPS)}"
                    ),
                )
                continue
            walk(child, child_node, f"{trail}.children.{child}")

    walk("all", data["all"], "all")
    return hosts, groups


def _check_values(
    problems: _Problems, inv: Inventory, origins: Origins, specs: dict[str, Spec]
) -> None:
    """Type and choices checks of every variable a role declares, per host, after templating."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    for host in inv.hosts.values():
        for role, options in specs.items():
            if not set(platform.role_groups().get(role, ("all",))) & {*host.groups, "all"}:
                continue
            params = {k: v for k, v in host.vars.items() if k in options}
            # Only what the inventory sets is checked here; defaults are the role's business.
            spec = {
                k: {
                    kk: vv
                    for kk, vv in o.items()
                    if kk in ("type", "choices", "elements", "options")
                }
                for k, o in options.items()
                if k in params
            }
            if not spec:
                continue
            result = ArgumentSpecValidator(spec).validate(params)
            for error in result.errors:
                text = str(error)
                key = next((k for k in params if k in text), None)
                where = _origin(origins, key, host.name, host.groups, inv.path)
                problems.add(where, key, f"{text} (host {host.name}, role {role})")


def load(
    value: str | None = None, vault_password: str | None = None, running: str = ""
) -> Inventory:
    """Load and validate an inventory; raise OpsError listing every problem found. `running`
    names the command ("pki init"): the placeholders it replaces itself are not refused."""
    path = resolve_path(value)
    password_file = vault_password_file(path, vault_password)
    loader = _loader(_read_vault_password(path, password_file))
    specs = role_specs()
    allowed = allowed_variables(specs)
    problems = _Problems()

    hosts_file = path / "hosts.yml"
    declared_hosts = _check_hosts_file(problems, path, loader, allowed)
    origins = _check_var_files(problems, path, loader, allowed, declared_hosts)
    problems.raise_if_any(path)

    manager = _manager(loader, hosts_file)
    # The site playbook's group_vars (the platform's wiring between roles) apply to every
    # host, as when Ansible runs playbooks/site.yml: the tools see the values Ansible uses.
    loader.set_basedir(str(PLAYBOOKS))
    hosts = _resolve_hosts(problems, loader, manager, allowed, origins, path)
    problems.raise_if_any(path)

    groups = {
        name: sorted(h.name for h in group.get_hosts())
        for name, group in manager.groups.items()
        if name not in ("all", "ungrouped")
    }
    inv = Inventory(
        path=path,
        hosts=hosts,
        groups=groups,
        vault_password_file=password_file,
        files=[hosts_file, *var_files(path)],
    )
    _check_values(problems, inv, origins, specs)
    _check_for_real_servers(problems, inv, origins, running)
    problems.raise_if_any(path)
    return inv


def _check_for_real_servers(
    problems: _Problems, inv: Inventory, origins: Origins, running: str
) -> None:
    """Placeholders, snakeoil, emptied keys, lab-only settings (preau_ops/inventory_checks)."""
    from . import inventory_checks

    def origin(key: str, host: Host) -> Path:
        return _origin(origins, key, host.name, host.groups, inv.path)

    for finding in inventory_checks.findings(inv, origin, running):
        problems.add(finding.file, finding.key, finding.text())


def _loader(password: bytes | None) -> DataLoader:
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultSecret

    loader = DataLoader()
    if password is not None:
        loader.set_vault_secrets([("default", VaultSecret(password))])
    return loader


def _check_hosts_file(
    problems: _Problems, path: Path, loader: DataLoader, allowed: set[str]
) -> set[str]:
    """hosts.yml's structure and required groups; the hosts it declares."""
    hosts_file = path / "hosts.yml"
    hosts_data = _load_yaml(problems, hosts_file, loader)
    problems.raise_if_any(path)
    declared_hosts, declared_groups = _walk_hosts_file(problems, hosts_file, hosts_data, allowed)
    for group in REQUIRED_GROUPS:
        if not declared_groups.get(group):
            problems.add(
                hosts_file, f"all.children.{group}", "required group is missing or has no host"
            )
    return declared_hosts


def _check_var_files(
    problems: _Problems,
    path: Path,
    loader: DataLoader,
    allowed: set[str],
    declared_hosts: set[str],
) -> Origins:
    """Every group_vars/host_vars file: its target, encryption and variable names; the files
    each variable is set in."""
    origins: Origins = {}
    for file in var_files(path):
        kind, target = _target_of(file, path)
        if kind == "group_vars" and target not in KNOWN_GROUPS:
            problems.add(file, None, f"group_vars for unknown group {target!r}")
        if kind == "host_vars" and target not in declared_hosts:
            problems.add(file, None, f"host_vars for unknown host {target!r}")
        is_vault = file.name == "vault.yml"
        if is_vault and not file.read_text(errors="replace").startswith(VAULT_HEADER):
            problems.add(
                file,
                None,
                f"secrets file is not encrypted: run `ansible-vault encrypt {_display(file)}`",
            )
        data = _load_yaml(problems, file, loader)
        for key in data or {}:
            _check_name(problems, file, key, allowed, is_vault)
            if (kind, target) == ("group_vars", "all") and key in _wiring_names():
                problems.add(
                    file,
                    key,
                    f"set by the platform's wiring ({_display(WIRING_DIR)}), which wins over an "
                    "inventory's group_vars/all: this value would be ignored; set it in "
                    "group_vars/<group>/ or host_vars/",
                )
            origins.setdefault(key, []).append(file)
    return origins


@functools.cache
def _wiring_names() -> frozenset[str]:
    """The variables the site playbook's group_vars/all set (but the platform map, refused by
    _check_name): Ansible ranks them above an inventory's group_vars/all."""
    names: set[str] = set()
    for file in sorted(WIRING_DIR.glob("*.yml")):
        names |= set(yaml.safe_load(file.read_text()) or {})
    return frozenset(names - {platform.VARIABLE})


def _origin(origins: Origins, key: str | None, host: str, groups: list[str], path: Path) -> Path:
    """The file that sets `key` for this host, as Ansible ranks them: its host_vars, else its
    groups' group_vars (the last group alphabetically wins), else group_vars/all; hosts.yml when
    no variables file sets it."""
    files = origins.get(key, []) if key is not None else []
    ranked = [("host_vars", host), *(("group_vars", g) for g in reversed(groups))]
    for target in [*ranked, ("group_vars", "all")]:
        for file in files:
            if _target_of(file, path) == target:
                return file
    return files[0] if files else path / "hosts.yml"


def _manager(loader: DataLoader, hosts_file: Path) -> InventoryManager:
    from ansible.inventory.manager import InventoryManager

    # A host named like its group (the lab's `db`) is legitimate here: silence only that warning.
    with contextlib.redirect_stderr(io.StringIO()) as noise:
        manager = InventoryManager(loader=loader, sources=[str(hosts_file)])
    for line in noise.getvalue().splitlines():
        if "Found both group and host with same name" not in line:
            print(line, file=sys.stderr)
    return manager


def _resolve_hosts(
    problems: _Problems,
    loader: DataLoader,
    manager: InventoryManager,
    allowed: set[str],
    origins: Origins,
    path: Path,
) -> dict[str, Host]:
    """Each host with its variables as Ansible resolves them (templated)."""
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    variables = VariableManager(loader=loader, inventory=manager)
    hosts: dict[str, Host] = {}
    for ahost in manager.get_hosts():
        raw = variables.get_vars(host=ahost, include_hostvars=False)
        templar = Templar(loader=loader, variables=raw)
        names = [
            k for k in raw if k in allowed or k.startswith("vault_") or k in ("inventory_hostname",)
        ]
        member_of = sorted(g.name for g in ahost.get_groups() if g.name not in ("all", "ungrouped"))
        resolved: dict[str, Any] = {}
        for key in names:
            try:
                resolved[key] = templar.template(raw[key])
            except Exception as exc:
                problems.add(
                    _origin(origins, key, ahost.name, member_of, path),
                    key,
                    f"cannot be resolved for host {ahost.name}: {exc}",
                )
        hosts[ahost.name] = Host(ahost.name, member_of, resolved)
    return hosts

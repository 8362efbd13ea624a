"""vault rekey: a new password for every vault file of the inventory (all or none); with
--remove-operator, the leaver's account and keys removed from every host in the same operation,
and the secrets they knew listed for rotation."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..inventory import Inventory

ACCOUNTS_TAGS = "base-users"  # roles/base: the admin and auditor accounts, their keys, sudo


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    vault = add_command(
        commands,
        common,
        "vault",
        "the inventory's vault: a new password (rekey), and an operator who leaves removed "
        "from every host in the same operation",
    )
    vault.set_defaults(handler=cmd_vault)
    actions = vault.add_subparsers(dest="vault_command", metavar="ACTION", required=True)
    rekey = actions.add_parser(
        "rekey",
        parents=[common],
        help="every vault file to a new password, all or none",
        description="Every vault file of the inventory to a new password (ansible-vault "
        "rekey on copies, swapped in only when all succeeded). With --remove-operator NAME "
        "(marked `state: absent` in base_admin_users): first a converge of the accounts "
        f"(tags {ACCOUNTS_TAGS}) removes their account and keys from every host.",
    )
    rekey.add_argument(
        "--new-password-file",
        metavar="FILE",
        help="the new password (at least 16 characters); asked twice otherwise",
    )
    rekey.add_argument(
        "--remove-operator", metavar="NAME", help="an operator who leaves: account removed"
    )
    rekey.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_vault(args: argparse.Namespace) -> int:
    from .. import inventory

    path = inventory.resolve_path(getattr(args, "inventory", None))
    files = inventory.vault_files(path)
    if not files:
        raise OpsError(
            f"{path.name} has no ansible-vault file",
            "secrets live in group_vars/all/vault.yml, encrypted (`ansible-vault encrypt`)",
        )
    inline = [f for f in [path / "hosts.yml", *inventory.var_files(path)] if _has_inline(f)]
    if inline:
        raise OpsError(
            "values encrypted inline (!vault) in "
            + ", ".join(str(f) for f in inline)
            + ": a rekey of the vault files would leave them on the old password",
            "move them into group_vars/all/vault.yml (plain values there), then run it again",
        )
    with _old_password(args, path) as old:
        new_password = _new_password(args)
        return _rekey(args, files, old, new_password)


def _has_inline(file: Path) -> bool:
    return "!vault" in file.read_text(errors="replace")


@contextlib.contextmanager
def _old_password(args: argparse.Namespace, path: Path) -> Iterator[Path]:
    """The current password's file: the one given (or the lab's), else asked once."""
    from .. import inventory, vault

    given = inventory.vault_password_file(path, getattr(args, "vault_password_file", None))
    if given is not None:
        args.old_password_source = str(given)
        yield given
        return
    if not sys.stdin.isatty():
        raise OpsError(
            "no vault password given", "pass --vault-password-file FILE (the current password)"
        )
    typed = getpass.getpass(f"Current vault password of {path.name}: ").encode()
    with vault.password_files(typed) as (file,):
        args.vault_password_file = str(file)
        args.old_password_source = "the password typed"
        yield file


def _new_password(args: argparse.Namespace) -> bytes:
    from .. import vault

    if args.new_password_file:
        try:
            password = Path(args.new_password_file).read_bytes().strip()
        except OSError as exc:
            raise OpsError(f"cannot read --new-password-file: {exc}") from exc
    elif sys.stdin.isatty():
        password = getpass.getpass("New vault password: ").encode()
        if getpass.getpass("The new password again: ").encode() != password:
            raise OpsError("the two new passwords differ", "nothing was changed; run it again")
    else:
        raise OpsError("no new password", "pass --new-password-file FILE, or run it at a terminal")
    if len(password) < vault.MIN_PASSWORD:
        raise OpsError(
            f"the new password is shorter than {vault.MIN_PASSWORD} characters",
            "make one with `openssl rand -base64 24`",
        )
    return password


def _rekey(args: argparse.Namespace, files: list[Path], old: Path, new_password: bytes) -> int:
    from .. import vault

    if old.read_bytes().strip() == new_password:
        raise OpsError("the new password is the current one", "choose another")
    inv = load(args)
    leaver = args.remove_operator
    if leaver:
        vault.check_leaver(inv, leaver)
    summary = ui.Summary(f"vault rekey of {inv.name}")
    report: dict[str, Any] = {"inventory": str(inv.path), "files": [str(f) for f in files]}
    with ui.progress_to_stderr(args.json):
        report["rotate_next"] = vault.secret_names(files, old)  # while the old one opens it
        if leaver:
            report["operator"] = _remove_operator(inv, leaver, summary)
        with vault.password_files(new_password) as (new,):
            _swap_password(inv, files, old, new, summary)
    report["lab_password_file"] = str(_lab_password()) if inv.is_lab else None
    _report(args, summary, report)
    return 0


def _lab_password() -> Path:
    from ..inventory import LAB_VAULT_PASSWORD

    return LAB_VAULT_PASSWORD


def _report(args: argparse.Namespace, summary: ui.Summary, report: dict[str, Any]) -> None:
    if args.json:
        ui.print_document(report)
        return
    if report["lab_password_file"]:
        summary.add("new password", "changed", f"written to {report['lab_password_file']}")
    else:
        summary.add(
            "new password",
            "changed",
            f"the old one ({args.old_password_source}) no longer opens the vault: give the new "
            "one to the operators who stay (docs/security.md, The vault)",
        )
    leaver = report.get("operator")
    rotate = ", ".join(report["rotate_next"])
    summary.add(
        "rotate next",
        "skipped",
        (f"{leaver['name']} knew " if leaver else "whoever held the old password knew ")
        + f"{rotate}: change each in the vault, then converge",
    )
    summary.show()


def _remove_operator(inv: Inventory, name: str, summary: ui.Summary) -> dict[str, Any]:
    from .. import converge, vault

    with ui.step(
        f"Removing {name}'s account and keys (converge --tags {ACCOUNTS_TAGS})", summary
    ) as p:
        result = converge.run_playbook(inv, tags=ACCOUNTS_TAGS, progress=p)
        if result.failed:
            errors = [f"{h}: {e}" for h, r in sorted(result.hosts.items()) for e in r.errors]
            raise OpsError(
                "the accounts converge failed: " + "; ".join(errors[:5]),
                "nothing was rekeyed; fix the hosts and run the same command again",
            )
        left = vault.accounts_left(inv, name)
        if any(left.values()):
            raise OpsError(
                f"{name}'s account is still on " + ", ".join(h for h, x in left.items() if x),
                "nothing was rekeyed; see the converge's output, run the command again",
            )
        p.result = "changed" if result.changed else "ok"
        p.detail = f"absent on {len(left)} hosts ({result.changed} changes)"
    return {"name": name, "absent_on": sorted(left), "changes": result.changed}


def _swap_password(
    inv: Inventory, files: list[Path], old: Path, new: Path, summary: ui.Summary
) -> None:
    from .. import vault

    extra = []
    if inv.is_lab:  # the lab keeps its password in a file the tools read: swapped too
        target = _lab_password()
        staged = target.with_name(f".{target.name}{vault.SUFFIX_NEW}")
        staged.touch(mode=0o600)
        staged.write_bytes(new.read_bytes())
        extra.append(vault.Swap(target, staged))
    with ui.step(f"Rekeying {len(files)} vault file(s)", summary) as progress:
        vault.rekey(files, old, new, extra, progress)
        progress.result = "changed"
        progress.detail = ", ".join(str(f.relative_to(inv.path)) for f in files)

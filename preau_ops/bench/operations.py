"""The operations' rows: the real `deploy.py` commands timed on the running lab (`up` from
nothing, converge, release, rollback, establishment add and merge, audit, status), each after
its untimed setup.

`up` from nothing destroys and rebuilds the lab: only with --from-nothing (and --uncached to
remove the lab images first), never in the default run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import runner
from ..paths import ROOT
from .core import DEPLOY, Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory


def _uai(seed: int) -> str:
    """A valid UAI of the lab's département (82) that this run has not used yet: 0821000 to
    0824999, clear of the demo establishments (08200xx) and of seed_bench's (0825xxx)."""
    from preau.core.uai import check_letter

    digits = f"082{1000 + seed % 4000:04d}"
    return digits + str(check_letter(digits))


def _add_command(tmp: Path, uai: str, students: int, name: str) -> list[str]:
    from preau.core.generator import generate

    made = generate(tmp / uai, students, uai=uai, name=name, town="Castelsarrasin")
    files = [str(f) for f in made["files"]]
    return [
        *DEPLOY,
        "establishment",
        "add",
        uai,
        "--name",
        name,
        "--town",
        "Castelsarrasin",
        "--aaf",
        *files,
    ]


def _add_1000_users(tmp: Path) -> list[str]:
    # 320 students bring about 600 parents and their teachers: ~1,000 accounts
    return _add_command(tmp, _uai(int(time.time()) // 60), 320, "Collège du banc d'essai")


_MERGED: list[tuple[str, str]] = []  # the (source, target) establishment_merge merged


def _merge_2x600(tmp: Path) -> list[str]:
    seed = int(time.time()) // 60 + 2000
    source, target = _uai(seed), _uai(seed + 1)
    for uai, name in ((source, "Collège de la Garonne"), (target, "Collège du Tarn")):
        subprocess.run(_add_command(tmp, uai, 600, name), cwd=ROOT, check=True, capture_output=True)
    _MERGED.append((source, target))
    return [*DEPLOY, "establishment", "merge", source, target, "--yes"]


def _unmerge_2x600(tmp: Path) -> list[str]:
    """The merge establishment_merge made, undone (that row runs first in the same bench):
    its backup loaded into the copy database, the undo rehearsed there, then done."""
    if not _MERGED:
        subprocess.run(_merge_2x600(tmp), cwd=ROOT, check=True, capture_output=True)
    source, target = _MERGED[-1]
    return [*DEPLOY, "establishment", "unmerge", source, target, "--yes"]


def _rentree_rehearsal(tmp: Path) -> list[str]:
    """A collège of 600 pupils added (not timed), then the rentrée rehearsed with its new
    year's complete files: a full backup of the whole data set, loaded into the copy
    database, the year change and the import there, the copy dropped."""
    from preau.core.generator import generate

    uai = _uai(int(time.time()) // 60 + 3500)
    name = "Collège de la rentrée"
    subprocess.run(_add_command(tmp, uai, 600, name), cwd=ROOT, check=True, capture_output=True)
    generate(tmp / "rentree" / uai, 600, uai=uai, name=name, town="Castelsarrasin")
    return [*DEPLOY, "establishment", "rentree", "--aaf-dir", str(tmp / "rentree"), "--rehearse"]


def _aaf_delta_1000(tmp: Path) -> list[str]:
    """A collège of 1,000 pupils added (not timed), then one delivery of 1,000 changes of its
    directory (600 class moves, 200 parents' e-mails, 100 pupils in, 100 out) imported."""
    from preau.core.generator import generate_delta

    uai = _uai(int(time.time()) // 60 + 3000)
    subprocess.run(
        _add_command(tmp, uai, 1000, "Collège des deltas"),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    delivery = generate_delta(tmp / f"{uai}-delta", 1000, 1000, uai=uai)
    return [*DEPLOY, "establishment", "import", uai, *delivery["files"]]


def _new_release(tmp: Path) -> list[str]:
    """The app with a different content, hence a new version, shipped to every app host."""
    source = tmp / "app"
    shutil.copytree(
        ROOT / "app",
        source,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build", "artifacts"),
    )
    (source / "src/preau/release_note.py").write_text(f'NOTE = "bench {time.time():.0f}"\n')
    return [*DEPLOY, "release", "--source", str(source)]


def _converge_noop(tmp: Path) -> list[str]:
    """A converge first (not timed): the timed one re-runs on converged hosts whose facts the
    first kept (preau_ops/converge.py's fact cache), as an operator's second converge does."""
    subprocess.run([*DEPLOY, "converge"], cwd=ROOT, check=True, capture_output=True)
    return [*DEPLOY, "converge", "--json"]


def _time_per_role(output: str) -> str:
    """converge --json's seconds per role (profile_roles' way of counting), and its three
    slowest tasks."""
    from ..converge import roles_line

    document = json.loads(output)
    slowest = document.get("slowest_tasks") or {}
    tasks = "; slowest tasks: " + ", ".join(
        f"{task} {seconds:.1f} s" for task, seconds in list(slowest.items())[:3]
    )
    return "per role: " + roles_line(document["roles"]) + (tasks if slowest else "")


def _release_noop(tmp: Path) -> list[str]:
    """The app of this tree shipped first (not timed, a no-op when it serves already): the
    timed release then finds the version already serving."""
    subprocess.run([*DEPLOY, "release"], cwd=ROOT, check=True, capture_output=True)
    return [*DEPLOY, "release"]


def _lab_topology() -> str:
    from ..lab import hosts

    return str((hosts.read_state() or {}).get("topology", "scaled"))


def _remove_lab_images() -> None:
    """Delete the lab's host images (a daemon is started for it if needed, and stopped again
    when the lab started it): the next `up` builds them from Debian's packages."""
    from ..lab import engine, image

    engine.ensure()
    for tag in ("baked", "bare"):
        subprocess.run(
            ["docker", "image", "rm", "--force", f"{image.REPOSITORY}:{tag}"],
            capture_output=True,
            check=False,
        )
    engine.stop_if_ours()


def _from_nothing(uncached: bool) -> Callable[[Path], list[str]]:
    """`down` (and the images removed when uncached), not timed; then `up` is timed, on the
    topology the lab had."""

    def setup(tmp: Path) -> list[str]:
        topology = _lab_topology()
        subprocess.run([*DEPLOY, "down"], cwd=ROOT, check=True, capture_output=True)
        if uncached:
            _remove_lab_images()
        return [*DEPLOY, "up", "--topology", topology]

    return setup


def _up_measures() -> list[Measure]:
    return [
        Measure(
            "up_from_nothing",
            "`up` from nothing, lab images cached (s; `bench --from-nothing`: destroys and "
            "rebuilds the lab)",
            "≤ 600",
            _from_nothing(uncached=False),
            opt_in="from_nothing",
        ),
        Measure(
            "up_from_nothing_uncached",
            "`up` from nothing, lab images built from Debian's packages (s; `bench "
            "--from-nothing --uncached`)",
            "≤ 900",
            _from_nothing(uncached=True),
            opt_in="uncached",
        ),
    ]


def _converge_measures(inv: Inventory) -> list[Measure]:
    plain = {
        "ANSIBLE_PIPELINING": "False",
        "ANSIBLE_FORKS": "5",
        "ANSIBLE_STRATEGY": "linear",
        "ANSIBLE_SSH_ARGS": runner.ansible_ssh_args(inv, "-o ControlMaster=no"),
    }
    playbook = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "inventories/lab/hosts.yml",
        "--vault-password-file",
        ".lab/vault-password",
        "playbooks/site.yml",
    ]
    return [
        Measure(
            "converge_noop",
            f"converge no-op re-run, {len(inv.hosts)}-host lab (s)",
            "≤ 30",
            _converge_noop,
            detail=_time_per_role,
        ),
        Measure(
            "converge_noop_plain",
            "same no-op with plain ansible-playbook defaults (5 forks, no pipelining, no "
            "ControlPersist, linear) (s)",
            "reported",
            playbook,
            plain,
        ),
    ]


def _release_measures() -> list[Measure]:
    return [
        Measure(
            "release_noop",
            "release of the version already serving (s)",
            "reported",
            _release_noop,
        ),
        Measure(
            "release_new",
            "release of a new version over every app host, one at a time (s; zero failed "
            "requests is asserted by the lab tests)",
            "≤ 60",
            _new_release,
        ),
        Measure(
            "rollback", "rollback to the previous release (s)", "reported", [*DEPLOY, "rollback"]
        ),
    ]


def _pki_measures() -> list[Measure]:
    return [
        Measure(
            "pki_rotate",
            "`pki rotate`: a new internal CA on every host, no downtime (three converges of "
            "role pki: trust both, reissue and reload, drop the old) (s)",
            "≤ 120",
            [*DEPLOY, "pki", "rotate"],
        ),
    ]


def _establishment_measures() -> list[Measure]:
    return [
        Measure(
            "establishment_add",
            "establishment add from AAF files, ~1,000 accounts (s)",
            "≤ 15",
            _add_1000_users,
        ),
        Measure(
            "aaf_delta",
            "AAF delta: one delivery of 1,000 changes to a collège of 1,000 pupils, uploaded "
            "and imported (s)",
            "≤ 15",
            _aaf_delta_1000,
        ),
        Measure(
            "establishment_merge",
            "merge of two establishments of 600 students, backup and verification included (s)",
            "≤ 60",
            _merge_2x600,
        ),
        Measure(
            "establishment_unmerge",
            "that merge undone alone: its backup loaded into the copy database beside the live "
            "one, the undo rehearsed there, then done (s; grows with the whole database)",
            "reported",
            _unmerge_2x600,
        ),
        Measure(
            "rentree_rehearsal",
            "the rentrée rehearsed with a 600-pupil collège's new files: a full backup, loaded "
            "into the copy database, the year change and the import there (s; grows with the "
            "whole database)",
            "reported",
            _rentree_rehearsal,
        ),
    ]


def _watch_measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "audit",
            f"audit of the {len(inv.hosts)}-host lab, admin account (s; DRIFT-01's converge in "
            "check mode included)",
            "≤ 20 (5-host lab), ≤ 30 (prodlike)",
            [*DEPLOY, "audit", "--report", "artifacts/bench-audit"],
            ok_codes=(0, 1),
            writes="artifacts/bench-audit/audit.json",
        ),
        Measure(
            "audit_auditor",
            f"audit of the {len(inv.hosts)}-host lab as the read-only auditor, same run (s; "
            "no DRIFT-01: check mode needs sudo)",
            "≤ 20 (5-host lab), ≤ 30 (prodlike)",
            [*DEPLOY, "audit", "--as-auditor", "--report", "artifacts/bench-audit-auditor"],
            ok_codes=(0, 1),
            writes="artifacts/bench-audit-auditor/audit.json",
        ),
        Measure(
            "status",
            "status of every host (s; exit 1 = something needs attention)",
            "reported",
            [*DEPLOY, "status"],
            ok_codes=(0, 1),
        ),
    ]


BOOTSTRAP_HOSTS = 2  # throwaway bare hosts the `bootstrap` row takes over: a bastion, a host


def _bootstrap(bench: Bench) -> str:
    """Bare hosts (root's key only) to bootstrapped, the bastion first and the other through
    it: `deploy.py bootstrap` on throwaway containers of the bare image with an operator's
    inventory (the lab is not touched)."""
    from ..bootstrap import trial

    with trial.hosts(BOOTSTRAP_HOSTS) as addresses:
        site, password = trial.operator_inventory(
            bench.tmp / "bootstrap-site", addresses, bastion=next(iter(addresses))
        )
        command = [*DEPLOY, "-i", str(site), "--vault-password-file", str(password)]
        started = time.monotonic()
        done = subprocess.run(
            [*command, "bootstrap", "--json"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        elapsed = time.monotonic() - started
    outcomes = json.loads(done.stdout or "{}").get("hosts", [])
    wrong = [f"{o['host']}: {o['detail']}" for o in outcomes if o["result"] != "bootstrapped"]
    if done.returncode != 0 or wrong or not outcomes:
        raise RuntimeError(f"bootstrap failed ({done.returncode}): {wrong or done.stdout[-600:]}")
    return f"{elapsed:.1f}"


def _bootstrap_measures() -> list[Measure]:
    return [
        Measure(
            "bootstrap",
            "bootstrap of a bastion and a host behind it, bare (root's key only), to the admin "
            "account, root and password logins off (s; throwaway containers; converge from "
            "there: up_from_nothing, whose `up` bootstraps every lab host first)",
            "≤ 60",
            probe=_bootstrap,
        )
    ]


def measures(inv: Inventory) -> list[Measure]:
    return (
        _up_measures()
        + _bootstrap_measures()
        + _converge_measures(inv)
        + _release_measures()
        + _pki_measures()
        + _establishment_measures()
        + _watch_measures(inv)
    )

"""Establishment procedures on real hosts: deploy a new establishment from AAF files, merge
two, archive, list; refusals before anything changes."""

import datetime as dt
import json
import re
import shlex

import pytest

from preau.core.generator import generate, generate_delta
from preau.core.uai import check_letter
from preau_ops import operations, procedures, runner
from preau_ops.inventory import Host
from preau_ops.paths import ROOT
from preau_ops.procedures import establishments

from .conftest import deploy, psql, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]


def uai(first7: str) -> str:
    return first7 + check_letter(first7)


@pytest.fixture(scope="module")
def released(lab):
    deploy("release", timeout=1200)
    return lab


def _listing(lab) -> dict:
    return {e["uai"]: e for e in establishments.listing(lab)}


@pytest.fixture(scope="module")
def codes(released):
    """Four UAIs this lab has never seen (SRC, DST, one for the refused import, one closed for
    good): an establishment is never deleted, a merged, archived or closed one stays, so each
    run takes new ones."""
    taken = _listing(released)
    free = [code for code in map(uai, (f"0829{n:03d}" for n in range(1000))) if code not in taken]
    assert len(free) >= 4, "no free UAI left in 0829000-0829999 on this lab: recreate it"
    return free[:4]


def _add(tmp_path, code, students, name):
    paths = [
        str(p)
        for p in generate(tmp_path / code, students, uai=code, name=name, town="Moissac")["files"]
    ]
    return deploy(
        "establishment",
        "add",
        code,
        "--name",
        name,
        "--town",
        "Moissac",
        "--aaf",
        *paths,
        timeout=600,
    )


@pytest.fixture(scope="module")
def added(released, codes, tmp_path_factory):
    """SRC added, then added again: (first output, listing after, second output, listing after)."""
    src = codes[0]
    tmp_path = tmp_path_factory.mktemp("add")
    first = _add(tmp_path, src, 120, "Collège François Mitterrand").stdout
    after_first = _listing(released)[src]
    again = _add(tmp_path, src, 120, "Collège François Mitterrand").stdout
    return first, after_first, again, _listing(released)[src]


def test_add_creates_imports_and_names_an_admin(added):
    out, listed, _, _ = added
    assert "created" in out and "activation code" in out
    assert listed["users_by_profile"]["ELV"] == 120
    assert listed["classes"] > 0


def test_add_again_changes_nothing(added):
    _, before, out, after = added
    assert "existed" in out
    assert after["users_by_profile"] == before["users_by_profile"]


def test_a_delta_delivery_is_imported_once(added, released, codes, tmp_path):
    """A delivery of the académie's daily changes brought by hand (`establishment import`):
    applied in one transaction, skipped when it comes again; a delivery with a defect refused
    whole, naming it."""
    src = codes[0]
    delivery = generate_delta(tmp_path / "delta", 120, 10, uai=src)  # the feed _add imported
    result = deploy("establishment", "import", src, *map(str, delivery["files"]), "--json")
    report = json.loads(result.stdout)
    assert report["status"] == "applied" and report["delivery"] in delivery["files"][0], report
    assert _listing(released)[src]["users_by_profile"]["ELV"] == 120  # one pupil in, one out
    again = json.loads(deploy("establishment", "import", src, *delivery["files"], "--json").stdout)
    assert again["status"] == "skipped"
    tomorrow = dt.date.today() + dt.timedelta(days=1)  # a later delivery
    broken = generate_delta(tmp_path / "broken", 120, 10, uai=src, day=tomorrow)
    eleve = next(p for p in map(str, broken["files"]) if "Eleve" in p)
    with open(eleve, encoding="utf-8") as f:
        text = f.read()
    with open(eleve, "w", encoding="utf-8") as f:
        f.write(text.replace("</modifyRequest>", "</modifyRequest", 1))  # broken XML
    refused = deploy("establishment", "import", src, *broken["files"], check=False)
    assert refused.returncode == 1 and "Eleve" in refused.stdout, refused.stdout[-2000:]


def test_activation_letters_are_made_and_fetched_for_this_account_only(
    added, released, codes, tmp_path
):
    """`establishment letters` on real hosts (issue #19 item 1): the app's command on the first
    app host makes the batch (codes issued once, the PDF one page per account), the PDF comes
    back readable by the operator's account only, and the host keeps no copy."""
    src = codes[0]
    out = tmp_path / "6A.pdf"
    result = deploy("establishment", "letters", src, "--class", "6A", "--output", str(out))
    letters = int(re.search(r"(\d+) letter\(s\)", result.stdout).group(1))
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and letters >= 10, result.stdout[-1000:]
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) == letters
    assert out.stat().st_mode & 0o777 == 0o600
    app_host = released.hosts_in("app")[0]
    with runner.session(released, [app_host]) as sessions:
        left = sessions.run(app_host, "ls -d /tmp/preau-letters.* 2>/dev/null || true").stdout
    assert not left.strip(), left


def test_bad_aaf_file_is_refused_and_nothing_is_imported(released, codes, tmp_path):
    bad = codes[2]
    files = generate(tmp_path / "bad", 30, uai=bad)["files"]
    eleve = next(p for p in map(str, files) if "Eleve" in p)
    with open(eleve, encoding="utf-8") as f:
        text = f.read()
    with open(eleve, "w", encoding="utf-8") as f:
        f.write(text.replace("</addRequest>", "</addRequest", 1))  # broken XML
    result = deploy(
        "establishment",
        "add",
        bad,
        "--name",
        "Collège Bad",
        "--town",
        "X",
        "--aaf",
        *map(str, files),
        check=False,
    )
    assert result.returncode == 1
    assert "Eleve" in result.stdout  # the error names the file
    listed = _listing(released)
    assert sum(listed.get(bad, {}).get("users_by_profile", {}).values()) == 0


def test_wrong_uai_is_refused_before_connecting(released):
    result = deploy("establishment", "add", "0820021Z", "--name", "x", "--town", "y", check=False)
    assert result.returncode == 1 and "lettre de contrôle" in result.stdout


@pytest.fixture(scope="module")
def merged(added, released, codes, tmp_path_factory):
    """DST added, then SRC merged into it: (listing before, merge output, listing after)."""
    src, dst = codes[:2]
    _add(tmp_path_factory.mktemp("merge"), dst, 90, "Collège Olympe Bis")
    before = _listing(released)
    out = deploy("establishment", "merge", src, dst, "--yes", timeout=900).stdout
    return before, out, _listing(released)


def test_merge_conserves_counts_and_renames_clashes(merged, codes):
    SRC, DST = codes[:2]
    before, out, after = merged
    assert "class renamed" in out
    for profile in ("ELV", "TUT", "ENS"):
        assert (
            after[DST]["users_by_profile"][profile]
            <= before[SRC]["users_by_profile"][profile] + before[DST]["users_by_profile"][profile]
        )
    assert after[DST]["users_by_profile"]["ELV"] == 210
    reports = sorted((ROOT / "artifacts" / "merges").glob(f"*{SRC}-into-{DST}.json"))
    report = json.loads(reports[-1].read_text())
    assert all(check["ok"] for check in report["checks"])
    assert report["backup_label"]


def test_the_merge_undone_alone_brings_both_back_and_keeps_another_school_s_day(
    merged, released, codes
):
    """#27 item 3: the merge's backup (named in the operations log) loaded into the copy
    database, the undo rehearsed there, then done: SRC and DST as before the merge, while a
    write made since in another establishment stays; the copy dropped."""
    SRC, DST = codes[:2]
    before, _, _ = merged
    refused = deploy("establishment", "unmerge", DST, SRC, "--yes", check=False)
    assert refused.returncode == 1 and f"no merge of {DST} into {SRC}" in refused.stdout
    elsewhere = "UPDATE core_establishment SET name = name || ' (renommé)' WHERE uai = '0820021C'"
    psql(released, elsewhere, "preau")
    try:
        out = deploy("establishment", "unmerge", SRC, DST, "--yes", timeout=1200).stdout
        assert "report:" in out
        after = _listing(released)
        for code in (SRC, DST):
            assert after[code]["status"] == "active"
            assert after[code]["users_by_profile"] == before[code]["users_by_profile"], code
        assert after["0820021C"]["name"].endswith(" (renommé)")  # its day kept
    finally:
        psql(
            released,
            elsewhere.replace("name || ' (renommé)'", "replace(name, ' (renommé)', '')"),
            "preau",
        )
    assert psql(released, "SELECT count(*) FROM pg_database WHERE datname = 'preau_copy'") == "0"
    entry = operations.verify(operations.read_log(released))[-1]
    assert entry["command"] == f"establishment unmerge {SRC} {DST}" and entry["outcome"] == "ok"


YEAR = "SELECT school_year FROM core_platform"


def _rentree(folder, code, *flags) -> dict:
    """`establishment rentree` with the new year's complete files of establishment CODE (the
    120 pupils `added` imported first, in their classes again); its JSON report."""
    generate(folder / code, 120, uai=code, name="Collège François Mitterrand", town="Moissac")
    command = ("establishment", "rentree", "--aaf-dir", str(folder), "--json", *flags)
    return json.loads(deploy(*command, timeout=1200).stdout)


def test_the_rentree_rehearsed_on_a_copy_reports_and_changes_nothing_live(
    added, released, codes, tmp_path
):
    """#27 item 2: the new year's files of SRC (the same 120 pupils, in their classes again),
    the year change and the import rehearsed on a copy of a fresh backup: the report per
    establishment, the live platform's year and classes untouched."""
    SRC = codes[0]
    live_year = psql(released, YEAR, "preau")
    report = _rentree(tmp_path, SRC, "--rehearse")
    assert report["rehearsal"] and report["backup_label"]
    assert report["school_year"] == report["previous_year"] + 1
    (school,) = [e for e in report["establishments"] if e["uai"] == SRC]
    # the complete files hold the 120 pupils added first; the delta delivery imported since
    # (test_a_delta_delivery_is_imported_once) changed a few: they leave or arrive again
    pupils = school["counts"]["ELV"]
    leaving = [p for p in school["leaving"] if p["profile"] == "ELV"]
    assert pupils["after"] == 120 and len(leaving) <= 3
    assert pupils["before"] - len(leaving) + school["arrivals"].get("ELV", 0) == pupils["after"]
    assert all(p["disable_on"] < p["delete_on"] for p in leaving if not p["kept"])
    others = [e for e in report["establishments"] if e["uai"] != SRC]
    assert others and all(e["files"] == [] for e in others)  # each said to have no file
    assert psql(released, YEAR, "preau") == live_year
    assert psql(released, "SELECT count(*) FROM pg_database WHERE datname = 'preau_copy'") == "0"
    entry = operations.verify(operations.read_log(released))[-1]
    assert entry["command"] == "establishment rentree --rehearse" and entry["outcome"] == "ok"


@pytest.mark.drill
def test_the_rentree_for_real_then_the_way_back(added, released, codes, tmp_path):
    """The real run (a full backup first, the platform in maintenance meanwhile), then the way
    back docs/domain.md gives: a point-in-time restore to the operation's start (operations
    log) brings the previous year back."""
    before = psql(released, YEAR, "preau")
    report = _rentree(tmp_path, codes[0], "--yes")
    assert not report["rehearsal"] and psql(released, YEAR, "preau") == str(report["school_year"])
    assert procedures.app_manage(released, "maintenance status")["maintenance"] is False
    entry = operations.verify(operations.read_log(released))[-1]
    assert entry["command"] == "establishment rentree" and entry["backup"] == report["backup_label"]
    deploy("backup", "restore", "--to", entry["start"], "--yes", timeout=900)
    assert psql(released, YEAR, "preau") == before


def test_archive_and_list(merged, codes):
    DST = codes[1]
    out = deploy("establishment", "archive", DST).stdout
    assert "archived" in out
    listed = json.loads(deploy("establishment", "list", "--json").stdout)
    assert {e["uai"]: e["status"] for e in listed}[DST] == "archived"


def test_a_closed_establishment_is_exported_for_its_archives(released, codes):
    """Closing for good on real hosts (issue #27 item 4): the export job runs where the jobs
    using files run (the first app host's worker), its bundle lands in the app role's archive
    directory (which the worker's sandbox may write) and checks against its SHA-256."""
    closing = codes[3]
    procedures.app_manage(released, f"establishment create {closing} --name 'Collège Fermé'")
    closed = procedures.app_manage(released, f"establishment close {closing}")
    assert closed["status"] == "closed", closed
    state: dict = {}

    def exported() -> bool:
        state.update(procedures.app_manage(released, f"establishment closure {closing}"))
        return state["export_job"]["status"] in ("succeeded", "failed")

    wait_until(exported, 120, lambda: f"the export job did not end: {state}")
    assert state["export_job"]["status"] == "succeeded", state
    bundle = state["bundle"]["path"]
    assert bundle.startswith(f"/srv/preau/shared/archives/{closing}-"), bundle
    files_host = released.hosts_in("app")[0]
    with runner.session(released, [files_host]) as sessions:
        checked = sessions.run(
            files_host,
            f"stat -c %U {shlex.quote(bundle)} && sha256sum {shlex.quote(bundle)}",
        ).stdout.split()
    assert checked[0] == "preau" and checked[1] == state["bundle"]["sha256"], (checked, state)


def test_another_operation_running_is_refused(released, codes):
    ops = operations.ops_host(released)
    owner = {"operator": "alice", "command": "establishment merge", "since": "10:00", "token": "a"}
    with runner.FabricSession(ops, released) as session:
        session.run(
            ops,
            f"mkdir -p {operations.LOCK_DIR} && "
            f"echo {shlex.quote(json.dumps(owner))} > {operations.LOCK_DIR}/owner.json",
        )
    try:
        result = deploy("establishment", "archive", codes[0], check=False)
        assert result.returncode == 1
        assert "alice is running `establishment merge` since 10:00" in result.stdout
    finally:
        with runner.FabricSession(ops, released) as session:
            session.run(ops, f"rm -rf {operations.LOCK_DIR}")


def test_unreachable_app_host_is_refused(released, codes):
    ghost = Host("ghost", ["app"], {"ansible_host": "172.30.82.99", "ansible_user": "deploy"})
    inv = released
    saved = dict(inv.groups)
    inv.groups["app"] = ["ghost"]
    inv.hosts["ghost"] = ghost
    try:
        with pytest.raises(Exception, match="ghost"):
            establishments.archive(inv, codes[0])
    finally:
        inv.groups.clear()
        inv.groups.update(saved)
        del inv.hosts["ghost"]


def test_every_procedure_left_an_entry_in_the_operations_log(merged, released, codes):
    SRC, DST = codes[:2]
    entries = operations.verify(operations.read_log(released))
    by_command = {e["command"]: e for e in entries}
    assert by_command[f"establishment add {SRC}"]["outcome"] == "ok"
    merge = by_command[f"establishment merge {SRC} {DST}"]
    assert merge["outcome"] == "ok" and merge["backup"], "the merge names the backup it took"

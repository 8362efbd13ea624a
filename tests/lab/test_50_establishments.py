"""Establishment procedures on real hosts: deploy a new establishment from AAF files, merge
two, archive, list; refusals before anything changes."""
import json

import pytest

from preau.core.generator import generate
from preau.core.uai import check_letter
from preau_ops import procedures, runner
from preau_ops.inventory import Host
from preau_ops.procedures import establishments

from .conftest import deploy

pytestmark = pytest.mark.lab


def uai(first7: str) -> str:
    return first7 + check_letter(first7)


SRC, DST = uai("0820901"), uai("0820902")


@pytest.fixture(scope="module")
def released(lab):
    deploy("release", timeout=1200)
    return lab


def _add(tmp_path, code, students, name):
    paths = [str(p) for p in generate(tmp_path / code, students, uai=code, name=name,
                                      town="Moissac")["files"]]
    return deploy("establishment", "add", code, "--name", name, "--town", "Moissac",
                  "--aaf", *paths, timeout=600)


def test_add_creates_imports_and_names_an_admin(released, tmp_path):
    out = _add(tmp_path, SRC, 120, "Collège François Mitterrand").stdout
    assert ("created" in out or "existed" in out) and "activation code" in out
    listed = {e["uai"]: e for e in establishments.listing(released)}
    assert listed[SRC]["users_by_profile"]["ELV"] == 120
    assert listed[SRC]["classes"] > 0


def test_add_again_changes_nothing(released, tmp_path):
    before = {e["uai"]: e for e in establishments.listing(released)}[SRC]
    out = _add(tmp_path, SRC, 120, "Collège François Mitterrand").stdout
    assert "existed" in out
    after = {e["uai"]: e for e in establishments.listing(released)}[SRC]
    assert after["users_by_profile"] == before["users_by_profile"]


def test_bad_aaf_file_is_refused_and_nothing_is_imported(released, tmp_path):
    files = generate(tmp_path / "bad", 30, uai=DST)["files"]
    eleve = next(p for p in map(str, files) if "Eleve" in p)
    with open(eleve, encoding="utf-8") as f:
        text = f.read()
    with open(eleve, "w", encoding="utf-8") as f:
        f.write(text.replace("</addRequest>", "</addRequest", 1))  # broken XML
    result = deploy("establishment", "add", DST, "--name", "Collège Bad", "--town", "X",
                    "--aaf", *map(str, files), check=False)
    assert result.returncode == 1
    assert "Eleve" in result.stdout  # the error names the file
    listed = {e["uai"]: e for e in establishments.listing(released)}
    assert sum(listed.get(DST, {}).get("users_by_profile", {}).values()) == 0


def test_wrong_uai_is_refused_before_connecting(released):
    result = deploy("establishment", "add", SRC[:7] + "Z", "--name", "x", "--town", "y",
                    check=False)
    assert result.returncode == 1 and "lettre de contrôle" in result.stdout


def test_merge_conserves_counts_and_renames_clashes(released, tmp_path):
    _add(tmp_path, DST, 90, "Collège Olympe Bis")
    before = {e["uai"]: e for e in establishments.listing(released)}
    out = deploy("establishment", "merge", SRC, DST, "--yes", timeout=900).stdout
    assert "class renamed" in out
    after = {e["uai"]: e for e in establishments.listing(released)}
    for profile in ("ELV", "TUT", "ENS"):
        assert after[DST]["users_by_profile"][profile] <= \
            before[SRC]["users_by_profile"][profile] + before[DST]["users_by_profile"][profile]
    assert after[DST]["users_by_profile"]["ELV"] == 210
    reports = sorted((procedures.ROOT / "artifacts" / "merges").glob(f"*{SRC}-into-{DST}.json"))
    report = json.loads(reports[-1].read_text())
    assert all(check["ok"] for check in report["checks"])
    assert report["backup_label"]


def test_archive_and_list(released):
    out = deploy("establishment", "archive", DST).stdout
    assert "archived" in out
    listed = json.loads(deploy("establishment", "list", "--json").stdout)
    assert {e["uai"]: e["status"] for e in listed}[DST] == "archived"


def test_another_operation_running_is_refused(released):
    app = released.hosts_in("app")[0]
    with runner.FabricSession(app, released) as session:
        session.run(app, f"mkdir -p {procedures.LOCK_DIR} && "
                         f"echo 'alice merge since 10:00' > {procedures.LOCK_DIR}/owner")
    try:
        result = deploy("establishment", "archive", SRC, check=False)
        assert result.returncode == 1
        assert "another operation is running: alice merge" in result.stdout
    finally:
        with runner.FabricSession(app, released) as session:
            session.run(app, f"rm -rf {procedures.LOCK_DIR}")


def test_unreachable_app_host_is_refused(released):
    ghost = Host("ghost", ["app"], {"ansible_host": "172.30.82.99", "ansible_user": "deploy"})
    inv = released
    saved = dict(inv.groups)
    inv.groups["app"] = ["ghost"]
    inv.hosts["ghost"] = ghost
    try:
        with pytest.raises(Exception, match="ghost"):
            establishments.archive(inv, SRC)
    finally:
        inv.groups.clear()
        inv.groups.update(saved)
        del inv.hosts["ghost"]


def test_every_procedure_left_an_audit_record(released):
    log = procedures.AUDIT_LOG.read_text().splitlines()
    operations = [json.loads(line)["operation"] for line in log]
    assert f"establishment add {SRC}" in operations
    assert f"establishment merge {SRC} {DST}" in operations

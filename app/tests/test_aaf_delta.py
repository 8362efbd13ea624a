"""The AAF's daily deltas (core/delta.py): a week applied in order from the drop directory, a
delivery refused whole, the removal guard and its confirmation, the job, the metrics."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from preau.core import importer
from preau.core.generator import _attr, _record, delete_record, modify_record, write_delta
from preau.core.models import ClassMembership, Membership, OperationLog, ParentLink, User
from tests.helpers import make_establishment, small_feed, snapshot

pytestmark = pytest.mark.django_db

UAI, STRUCT = "0820021C", "8200210"
MONDAY = dt.date(2026, 11, 30)


def pupil(n: int) -> str:
    return f"1820021{n:05d}"


def parent(n: int) -> str:
    return f"3820021{n:05d}"


def new_pupil(key: str, name: str, klass: str, guardian: str) -> str:
    return _record(
        "Eleve",
        key,
        [
            _attr("ENTPersonJointure", key),
            _attr("sn", name),
            _attr("givenName", "Inès"),
            _attr("ENTEleveClasses", f"{STRUCT}${klass}"),
            _attr("ENTEleveAutoriteParentale", guardian),
        ],
    )


def move(key: str, klass: str) -> str:
    return modify_record("Eleve", key, [("ENTEleveClasses", "replace", [f"{STRUCT}${klass}"])])


@pytest.fixture
def drop(tmp_path, settings):
    """A collège imported from a complete feed of 30 pupils; its drop directory."""
    est = make_establishment()
    importer.import_aaf(est, small_feed(tmp_path / "complete", students=30)["files"])
    settings.PREAU_AAF_DROP_DIR = str(tmp_path / "drop")
    directory = tmp_path / "drop" / UAI
    directory.mkdir(parents=True)
    return directory


def class_of(key: str) -> str:
    return ClassMembership.objects.get(
        user__join_key=key, class_group__kind="class"
    ).class_group.name


def present(profile: str) -> int:
    return Membership.objects.present().filter(profile=profile).count()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_week_of_deltas_applied_in_order(drop, call_json):
    pupils, parents = present("ELV"), present("TUT")
    new_parent = _record(
        "PersRelEleve",
        parent(900),
        [
            _attr("ENTPersonJointure", parent(900)),
            _attr("sn", "NOUVEAU"),
            _attr("givenName", "Léa"),
        ],
    )
    week = {
        # Monday: a pupil and her new parent arrive; pupil 1 moves from 6A to 5A.
        MONDAY: {
            "PersRelEleve": [new_parent],
            "Eleve": [new_pupil(pupil(901), "ARRIVÉE", "6A", parent(900)), move(pupil(1), "5A")],
        },
        # Tuesday: a teacher's e-mail and a parent's name change; pupil 2 gets a second guardian.
        MONDAY + dt.timedelta(1): {
            "PersEducNat": [
                modify_record("PersEducNat", "5820021" + "00001", [("mail", "replace", ["t@x.fr"])])
            ],
            "PersRelEleve": [
                modify_record("PersRelEleve", parent(1), [("sn", "replace", ["DUPONT"])])
            ],
            "Eleve": [
                modify_record(
                    "Eleve", pupil(2), [("ENTEleveAutoriteParentale", "add", [parent(900)])]
                )
            ],
        },
        # Wednesday: two pupils leave.
        MONDAY + dt.timedelta(2): {
            "Eleve": [delete_record("Eleve", pupil(29)), delete_record("Eleve", pupil(30))]
        },
        # Thursday: pupil 1 moves again (the later delivery wins), the new pupil too.
        MONDAY + dt.timedelta(3): {"Eleve": [move(pupil(1), "4A"), move(pupil(901), "3A")]},
        # Friday: another pupil leaves.
        MONDAY + dt.timedelta(4): {"Eleve": [delete_record("Eleve", pupil(28))]},
    }
    for day in reversed(list(week)):  # deposited in any order: applied by date
        write_delta(drop, day, week[day])
    report = call_json("import_aaf_deltas")
    assert [r["status"] for r in report["deliveries"]] == ["applied"] * 5
    assert [r["delivery"][-8:] for r in report["deliveries"]] == [
        d.strftime("%Y%m%d") for d in week
    ]
    assert present("ELV") == pupils + 1 - 3 and present("TUT") == parents + 1
    assert class_of(pupil(1)) == "4A" and class_of(pupil(901)) == "3A"
    assert User.objects.get(join_key="582002100001").email == "t@x.fr"
    assert User.objects.get(join_key=parent(1)).last_name == "DUPONT"
    assert ParentLink.objects.filter(
        parent__join_key=parent(900), child__join_key=pupil(2), legal_guardian=True
    ).exists()
    gone = Membership.objects.filter(user__join_key__in=[pupil(28), pupil(29), pupil(30)])
    assert all(m.gone_since is not None for m in gone)  # marked gone as a complete feed does
    assert names(drop) == ["done"] and len(names(drop / "done")) == 8
    # Re-running changes nothing; a delivery deposited again is not applied twice.
    before = snapshot()
    assert call_json("import_aaf_deltas")["deliveries"] == []
    write_delta(drop, MONDAY, week[MONDAY])
    assert [r["status"] for r in call_json("import_aaf_deltas")["deliveries"]] == ["skipped"]
    assert snapshot() == before


def test_a_bad_record_refuses_the_whole_delivery(drop, call_json):
    write_delta(
        drop,
        MONDAY,
        {
            "Eleve": [
                move(pupil(1), "5A"),  # good, but not applied: its delivery is refused
                modify_record("Eleve", pupil(999), [("sn", "replace", ["X"])]),
                modify_record(
                    "Eleve", pupil(2), [("ENTPersonDateNaissance", "replace", ["31/02/2012"])]
                ),
                modify_record("Eleve", pupil(3), [("sn", "rename", ["X"])]),
            ],
            "PersEducNat": [modify_record("PersEducNat", pupil(4), [("sn", "replace", ["X"])])],
        },
    )
    before = snapshot()
    with pytest.raises(CommandError):
        call_command("import_aaf_deltas", "--json")
    logs = OperationLog.objects.filter(kind="aaf_delta")
    assert [log.summary["status"] for log in logs] == ["refused"]
    errors = {(e["record"], e["attribute"]): e["message"] for e in logs[0].summary["errors"]}
    assert "inconnue dans l'établissement" in errors[(pupil(999), "identifier")]
    assert "date impossible" in errors[(pupil(2), "ENTPersonDateNaissance")]
    assert "opération inconnue « rename »" in errors[(pupil(3), "sn")]
    assert "catégorie Eleve, pas PersEducNat" in errors[(pupil(4), "categoriePersonne")]
    assert len(errors) == 4
    after = snapshot()
    after["OperationLog"] = before["OperationLog"]
    assert after == before and class_of(pupil(1)) == "6A"
    assert names(drop) == ["refused"]
    # A file that is no delta is refused too, by name; a complete file in a delta's name also.
    (drop / "notes.txt").write_text("?")
    with pytest.raises(CommandError, match="1 livraison"):
        call_command("import_aaf_deltas")
    assert names(drop / "refused") == [
        "ENT2D.20261130_Delta_20261130_Eleve_0000.xml",
        "ENT2D.20261130_Delta_20261130_PersEducNat_0000.xml",
        "notes.txt",
    ]


def test_the_guard_holds_a_mass_removal_until_confirmed(drop, call_json, client):
    members = Membership.objects.present().count()
    leaving = [delete_record("Eleve", pupil(n)) for n in range(1, members // 10 + 2)]
    monday = write_delta(drop, MONDAY, {"Eleve": leaving})
    write_delta(drop, MONDAY + dt.timedelta(1), {"Eleve": [move(pupil(20), "3A")]})
    before = snapshot()
    report = call_json("import_aaf_deltas")
    (held,) = report["deliveries"]  # Tuesday waits behind Monday
    assert held["status"] == "pending" and held["removals"] == len(leaving)
    assert "en attente de la confirmation" in held["message"]
    assert call_json("import_aaf_deltas")["deliveries"][0]["status"] == "pending"
    assert OperationLog.objects.filter(kind="aaf_delta").count() == 1  # held once, logged once
    after = snapshot()
    after["OperationLog"] = before["OperationLog"]
    assert after == before and len(names(drop)) == 2
    assert "preau_aaf_delta_pending 1.0" in client.get("/metrics").content.decode()
    with pytest.raises(CommandError, match="n'attend pas de confirmation"):
        call_command(
            "import_aaf_deltas", "--confirm", "ENT2D.20261201_Delta_20261201_Eleve_0000.xml"
        )
    report = call_json("import_aaf_deltas", "--confirm", Path(monday[0]).name)
    assert [r["status"] for r in report["deliveries"]] == ["applied", "applied"]
    assert report["deliveries"][0]["confirmed"] is True
    assert Membership.objects.present().count() == members - len(leaving)
    assert class_of(pupil(20)) == "3A" and names(drop) == ["done"]
    text = client.get("/metrics").content.decode()
    assert "preau_aaf_delta_pending 0.0" in text and "preau_aaf_delta_refused 0.0" in text
    assert re.search(r"preau_aaf_delta_last_applied_timestamp_seconds \d", text)


def test_without_a_drop_directory_the_command_says_so(settings):
    settings.PREAU_AAF_DROP_DIR = ""
    with pytest.raises(CommandError, match=r"\[aaf\] drop_dir n'est pas configuré"):
        call_command("import_aaf_deltas")


def test_the_job_imports_the_drop_directory_with_a_real_worker(run_jobs, drop):
    """The periodic job (tasks.import_aaf_deltas) run by a worker: the files move to done/."""
    from preau.jobs import queue, tasks  # noqa: F401 (tasks: registers the jobs)

    write_delta(drop, MONDAY, {"Eleve": [move(pupil(1), "3A")]})
    job_id = queue.enqueue("import_aaf_deltas", timestamp=0)
    run_jobs()
    assert queue.job_status(job_id)["status"] == "succeeded"
    assert class_of(pupil(1)) == "3A" and names(drop) == ["done"]


def test_import_aaf_applies_one_delivery_by_hand(drop, tmp_path, call_json):
    """import_aaf with a delivery's delta files (what the bench's aaf_delta times): the same
    application, the same guard, never twice."""
    made = call_json(
        "generate_aaf", "--students", "30", "--delta-changes", "20", "--out", str(tmp_path / "d")
    )
    report = call_json("import_aaf", UAI, *made["files"])
    assert report["status"] == "applied" and report["removals"] == 2
    assert report["users"]["created"] == 2 and report["persons_in_feed"] == 18
    assert call_json("import_aaf", UAI, *made["files"])["status"] == "skipped"
    tuesday = write_delta(tmp_path / "t", MONDAY, {"Eleve": [move(pupil(1), "3A")]})
    with pytest.raises(CommandError, match="une seule date"):
        call_command("import_aaf", UAI, made["files"][0], *tuesday)
    # 11 pupils still there (the generated delivery removes pupils drawn by its date)
    still = Membership.objects.present().filter(profile="ELV").values_list("user__join_key")
    leaving = [delete_record("Eleve", key) for (key,) in sorted(still)[:11]]
    wednesday = write_delta(tmp_path / "w", MONDAY + dt.timedelta(2), {"Eleve": leaving})
    with pytest.raises(CommandError, match="plus de 10 %"):
        call_command("import_aaf", UAI, *wednesday)
    assert call_json("import_aaf", UAI, *wednesday, "--confirm")["removals"] == 11

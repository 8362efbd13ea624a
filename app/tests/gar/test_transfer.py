"""The nightly GAR export and its transfer to the GAR's SFTP drop (preau.gar.transfer), against
a fake `sftp` written here and put first on PATH: it logs its command line, its batch file and
the known_hosts file it was given, then plays the batch on a local directory standing for the
drop (put, rename, rm; a rename onto an existing name fails, as SFTP v3's), or fails as told by
FAKE_SFTP_MODE: `cut` (the connection lost at the first rename), `refuse` (host key refused),
`hang` (never answers). The real SFTP server is the lab's."""

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from django.db import connection

from preau import config
from preau.core.models import Establishment
from preau.gar import export, transfer
from preau.gar.models import GarExport
from preau.jobs import tasks
from tests.helpers import make_establishment
from tests.school import make_school

KNOWN_HOST = "[sftp.gar.test]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTests"

FAKE_SFTP = """#!{python}
import json, os, shlex, shutil, sys, time

args = sys.argv[1:]
options = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-o")
batch = open(args[args.index("-b") + 1]).read()
with open(os.environ["FAKE_SFTP_LOG"], "a") as log:
    known = open(options["UserKnownHostsFile"]).read()
    log.write(json.dumps({{"argv": args, "batch": batch, "known_hosts": known}}) + "\\n")
mode = os.environ.get("FAKE_SFTP_MODE", "ok")
if mode == "hang":
    time.sleep(30)
if mode == "refuse":
    print("Host key verification failed.", file=sys.stderr)
    sys.exit(255)
here = os.environ["FAKE_SFTP_DROP"]
for line in batch.splitlines():
    tolerant = line.startswith("-")
    command, *words = shlex.split(line.lstrip("-"))
    try:
        if command == "cd":
            here = os.path.join(here, words[0])
            if not os.path.isdir(here):
                raise OSError("No such file or directory")
        elif command == "put":
            shutil.copyfile(words[0], os.path.join(here, words[1]))
        elif command == "rm":
            os.remove(os.path.join(here, words[0]))
        elif command == "rename":
            if mode == "cut":
                raise OSError("Connection closed")
            if os.path.exists(os.path.join(here, words[1])):
                raise OSError("Failure")
            os.rename(os.path.join(here, words[0]), os.path.join(here, words[1]))
    except OSError as exc:
        if not tolerant:
            print(f"{{command}}: {{exc}}", file=sys.stderr)
            sys.exit(1)
"""


@pytest.fixture
def drop(tmp_path, settings, monkeypatch):
    """The GAR set up with an SFTP drop; the fake sftp first on PATH; the drop's directory."""
    bin_dir, exports, remote = tmp_path / "bin", tmp_path / "exports", tmp_path / "drop"
    for d in (bin_dir, exports, remote / "depot"):
        d.mkdir(parents=True)
    fake = bin_dir / "sftp"
    fake.write_text(FAKE_SFTP.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SFTP_LOG", str(tmp_path / "sftp.log"))
    monkeypatch.setenv("FAKE_SFTP_DROP", str(remote))
    monkeypatch.setenv("FAKE_SFTP_MODE", "ok")
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "gar_ent_id": "ENT-TEST",
        "gar_export_dir": str(exports),
        "gar_sftp_host": "sftp.gar.test",
        "gar_sftp_port": 2222,
        "gar_sftp_user": "ent-test",
        "gar_sftp_remote_dir": "depot",
        "gar_sftp_key_file": "/etc/preau/gar/sftp.key",
        "gar_sftp_known_host": KNOWN_HOST,
        "gar_sftp_timeout_seconds": 20,
    }
    return {"remote": remote / "depot", "log": tmp_path / "sftp.log", "exports": exports}


def calls(drop) -> list[dict]:
    if not drop["log"].exists():
        return []
    return [json.loads(line) for line in drop["log"].read_text().splitlines()]


def enabled(key: str, uai: str) -> dict:
    school = make_school(key, uai)
    school["est"].settings = {"gar": True}
    school["est"].save()
    return school


def test_every_night_each_enabled_establishment_is_exported_and_sent(drop, run_jobs):
    """The nightly periodic job asks one export per active establishment with the GAR; the
    worker makes each, then sends it: the drop holds, per establishment, the archive of its
    five files and its MD5 under their final names, nothing under a temporary one. A drop
    that fails: recorded on the export, the job retried by the job mechanism, sent then."""
    enabled("A", "0820021C")
    enabled("B", "0820010R")
    make_establishment("0820030B")  # the GAR not enabled: not exported
    periodic = tasks.app.periodic_registry.periodic_tasks[
        ("gar_export_nightly", "gar_export_nightly")
    ]
    assert periodic.cron == "10 1 * * *"

    assert tasks.gar_export_nightly(0) == {"asked": ["0820010R", "0820021C"]}
    run_jobs()
    records = GarExport.objects.order_by("establishment__uai")
    assert [(r.establishment.uai, r.nightly, r.status, r.transfer) for r in records] == [
        ("0820010R", True, "made", "sent"),
        ("0820021C", True, "made", "sent"),
    ]
    names = sorted(p.name for p in drop["remote"].iterdir())
    assert len(names) == 4 and not [n for n in names if n.startswith(".")]
    for archive in drop["remote"].glob("*.tar.gz"):
        marker = archive.with_name(archive.name.removesuffix(".tar.gz") + ".md5")
        assert marker.read_text() == hashlib.md5(archive.read_bytes()).hexdigest()
        with tarfile.open(archive) as tar:
            kinds = sorted(name.split("_")[4] for name in tar.getnames())
        assert kinds == ["Eleve", "Enseignant", "Etab", "Groupe", "RespAff"]

    # The next night the drop cuts the connection: the export is made, its transfer recorded
    # failed, the job waits for its retry; nothing new announced in the drop.
    GarExport.objects.all().delete()
    for p in drop["remote"].iterdir():
        p.unlink()
    Establishment.objects.filter(uai="0820010R").update(settings={"gar": False})
    tasks.gar_export_nightly(0)
    drop["log"].unlink()
    with pytest.MonkeyPatch.context() as m:
        m.setenv("FAKE_SFTP_MODE", "cut")
        run_jobs()
    record = GarExport.objects.get()
    assert (record.status, record.transfer, record.transfer_attempts) == ("made", "failed", 1)
    assert "Connection closed" in record.transfer_error
    assert not [p for p in drop["remote"].iterdir() if not p.name.startswith(".")]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, attempts, scheduled_at > now() FROM procrastinate_jobs "
            "WHERE task_name = 'gar_transfer' AND status <> 'succeeded'"
        )
        assert cursor.fetchall() == [("todo", 1, True)]  # retried later, not failed
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'")
    run_jobs()
    record.refresh_from_db()
    assert (record.transfer, record.transfer_attempts, record.transfer_error) == ("sent", 2, "")
    assert len(list(drop["remote"].glob("*.md5"))) == 1
    assert not [p for p in drop["remote"].iterdir() if p.name.startswith(".")]


@pytest.fixture
def made(db, drop):
    """A's export made (its transfer deferred, not run)."""
    enabled("A", "0820021C")
    result = export.make("0820021C")
    assert result["transfer"] == "pending"
    return GarExport.objects.get(pk=result["export_id"])


def test_the_sftp_command_line_and_batch(made, drop):
    """Batch mode, no shell, the configured port, key and known host only, no user
    configuration; both files under temporary names, then renamed, the MD5 last."""
    assert transfer.run(made.pk)["transfer"] == "sent"
    (call,) = calls(drop)
    argv = call["argv"]
    assert argv[:2] == ["-b", argv[1]] and argv[-1] == "ent-test@sftp.gar.test"
    pairs = list(zip(argv[2:-1:2], argv[3:-1:2], strict=True))
    options = [value for flag, value in pairs if flag == "-o"]
    assert ("-F", "none") in pairs and ("-P", "2222") in pairs
    assert ("-i", "/etc/preau/gar/sftp.key") in pairs
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "IdentitiesOnly=yes"):
        assert option in options
    assert "GlobalKnownHostsFile=/dev/null" in options and "ConnectTimeout=20" in options
    assert call["known_hosts"] == KNOWN_HOST + "\n"
    archive = next(n for n in made.files if n.endswith(".tar.gz"))
    marker = archive.removesuffix(".tar.gz") + ".md5"
    local = Path(made.directory)
    assert call["batch"].splitlines() == [
        'cd "depot"',
        f'put "{local / archive}" ".{archive}.part"',
        f'put "{local / marker}" ".{marker}.part"',
        f'-rm "{archive}"',
        f'rename ".{archive}.part" "{archive}"',
        f'-rm "{marker}"',
        f'rename ".{marker}.part" "{marker}"',
    ]
    assert sorted(p.name for p in drop["remote"].iterdir()) == sorted([archive, marker])
    # Sent once: the job taken again sends nothing.
    assert transfer.run(made.pk) == {
        "uai": "0820021C",
        "export_id": made.pk,
        "transfer": "sent",
        "again": False,
    }
    assert len(calls(drop)) == 1


@pytest.mark.parametrize(
    ("mode", "path", "timeout", "expected"),
    [
        ("refuse", None, 20, "sftp a échoué (code 255) : Host key verification failed."),
        ("hang", None, 1, "envoi interrompu : plus de 1 s"),
        ("ok", "/nowhere", 20, "la commande sftp (OpenSSH, paquet openssh-client) est introuvable"),
    ],
)
def test_a_failed_transfer_is_recorded_and_raised(
    made, drop, monkeypatch, settings, mode, path, timeout, expected
):
    monkeypatch.setenv("FAKE_SFTP_MODE", mode)
    if path:
        monkeypatch.setenv("PATH", path)
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_sftp_timeout_seconds": timeout}
    with pytest.raises(transfer.TransferError) as failed:
        transfer.run(made.pk)
    assert str(failed.value) == expected
    made.refresh_from_db()
    assert (made.transfer, made.transfer_error, made.transfer_attempts) == ("failed", expected, 1)
    assert list(drop["remote"].iterdir()) == []


def test_an_older_export_is_never_sent_after_a_newer_one(made, drop, call_json):
    newer = GarExport.objects.get(pk=export.make("0820021C")["export_id"])
    assert transfer.run(newer.pk)["transfer"] == "sent"
    assert transfer.run(made.pk)["transfer"] == "superseded"
    made.refresh_from_db()
    assert made.transfer == "failed" and "plus récent" in made.transfer_error
    assert len(calls(drop)) == 1
    # The operators' view: each export, its transfer and why it was not sent.
    listed = call_json("gar", "exports", "0820021C")["exports"]
    assert [(x["id"], x["transfer"]) for x in listed] == [(newer.pk, "sent"), (made.pk, "failed")]
    assert "plus récent" in listed[1]["transfer_error"]


def test_old_exports_are_pruned_beyond_gar_export_keep(made, drop, settings):
    """The last gar_export_keep exports of the establishment are kept with their directories;
    one whose transfer is still waiting stays until the next time."""
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_export_keep": 2}
    first = Path(made.directory)
    second = GarExport.objects.get(pk=export.make("0820021C")["export_id"])
    GarExport.objects.filter(pk=made.pk).update(created_at=made.created_at - dt.timedelta(days=2))
    third = GarExport.objects.get(pk=export.make("0820021C")["export_id"])
    assert first.is_dir() and GarExport.objects.count() == 3  # its transfer still waits
    GarExport.objects.filter(pk=made.pk).update(transfer="sent")
    fourth = GarExport.objects.get(pk=export.make("0820021C")["export_id"])
    assert not first.exists()
    kept = set(GarExport.objects.values_list("pk", flat=True))
    assert {third.pk, fourth.pk} <= kept and made.pk not in kept
    assert Path(second.directory).is_dir() == (second.pk in kept)
    assert sorted(p.name for p in (drop["exports"] / "0820021C").iterdir()) == sorted(
        Path(GarExport.objects.get(pk=pk).directory).name for pk in kept
    )


def test_the_sftp_drop_configuration_is_checked(tmp_path):
    complete = {
        "gar_sftp_host": '"sftp.gar.test"',
        "gar_sftp_user": '"ent"',
        "gar_sftp_key_file": '"/k"',
        "gar_sftp_known_host": f'"{KNOWN_HOST}"',
    }

    def load(**keys: str) -> None:
        lines = "\n".join(f"{key} = {value}" for key, value in keys.items())
        path = tmp_path / "preau.toml"
        path.write_text(f'[django]\nsecret_key = "x"\n[federation]\n{lines}\n')
        config.load(str(path), {})

    with pytest.raises(config.ConfigError) as refused:
        load(gar_sftp_host='"sftp.gar.test"')
    for key in ("gar_sftp_user", "gar_sftp_key_file", "gar_sftp_known_host"):
        assert key in str(refused.value)
    load(**complete)
    for key, bad, message in [
        ("gar_sftp_port", "0", "gar_sftp_port"),
        ("gar_sftp_known_host", '"sftp.gar.test"', "known_hosts line"),
        ("gar_sftp_remote_dir", '"a\\"b"', "no quote"),
        ("gar_sftp_user", '"-oProxyCommand=sh"', "not a host or user name"),
        ("gar_export_keep", "0", "gar_export_keep"),
    ]:
        with pytest.raises(config.ConfigError, match=message):
            load(**{**complete, key: bad})


@pytest.mark.skipif(not shutil.which("sftp", path="/usr/bin:/bin"), reason="no OpenSSH sftp")
def test_the_real_sftp_accepts_the_command_line(made, drop, settings, monkeypatch, tmp_path):
    """OpenSSH's own sftp takes our options (no usage error) and, nothing listening on the
    loopback port, fails to connect: recorded as the connection's error."""
    with socket.socket() as probe:  # a free port: nothing listens there once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = tmp_path / "sftp.key"
    key.write_text("")
    key.chmod(0o600)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "gar_sftp_host": "127.0.0.1",
        "gar_sftp_port": port,
        "gar_sftp_key_file": str(key),
        "gar_sftp_known_host": f"[127.0.0.1]:{port} {KNOWN_HOST.split(' ', 1)[1]}",
    }
    with pytest.raises(transfer.TransferError, match="code 255.*Connection refused"):
        transfer.run(made.pk)


SSHD = "/usr/sbin/sshd"  # Debian's openssh-server: `deploy.py test` installs it (not started)
SSHD_CONFIG = """\
ListenAddress 127.0.0.1:{port}
HostKey {here}/host_key
PidFile {here}/sshd.pid
AuthorizedKeysFile {here}/client_key.pub
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowUsers {user}
Subsystem sftp internal-sftp
ForceCommand internal-sftp
"""


@pytest.fixture
def real_drop(made, settings, monkeypatch, tmp_path):
    """A real OpenSSH SFTP server on a loopback port, for this test only (its own host key,
    the account of whoever runs the tests, the client key made here), and the app set up to
    send to it with the real sftp."""
    assert Path(SSHD).exists(), f"{SSHD} missing: `deploy.py test app` installs openssh-server"
    here = tmp_path / "sshd"
    here.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(here / key)], check=True
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config_file = here / "sshd_config"
    config_file.write_text(SSHD_CONFIG.format(port=port, here=here, user=getpass.getuser()))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation directory
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config_file)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.05)
        remote = tmp_path / "gar-drop"
        remote.mkdir()
        host_key = (here / "host_key.pub").read_text().split()
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        settings.PREAU_FEDERATION = {
            **settings.PREAU_FEDERATION,
            "gar_sftp_host": "127.0.0.1",
            "gar_sftp_port": port,
            "gar_sftp_user": getpass.getuser(),
            "gar_sftp_remote_dir": str(remote),
            "gar_sftp_key_file": str(here / "client_key"),
            "gar_sftp_known_host": f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}",
        }
        yield remote
    finally:
        server.terminate()
        server.wait(10)


def test_an_export_reaches_a_real_openssh_server_whole_and_announced_last(made, real_drop):
    """OpenSSH's sftp to OpenSSH's sshd: the archive and its MD5 arrive under their final
    names, byte for byte, nothing temporary left, the MD5 that of the archive."""
    assert transfer.run(made.pk)["transfer"] == "sent"
    local = Path(made.directory)
    archive = next(n for n in made.files if n.endswith(".tar.gz"))
    marker = archive.removesuffix(".tar.gz") + ".md5"
    assert sorted(p.name for p in real_drop.iterdir()) == sorted([archive, marker])
    for name in (archive, marker):
        assert (real_drop / name).read_bytes() == (local / name).read_bytes()
    digest = hashlib.md5((real_drop / archive).read_bytes()).hexdigest()  # noqa: S324 (the GAR's)
    assert digest in (real_drop / marker).read_text()
    made.refresh_from_db()
    assert (made.transfer, made.transfer_error) == ("sent", "")


def test_a_server_whose_key_is_not_the_configured_one_gets_nothing(made, real_drop, settings):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTests"
    host = settings.PREAU_FEDERATION["gar_sftp_known_host"].split()[0]
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "gar_sftp_known_host": f"{host} {other}",
    }
    with pytest.raises(transfer.TransferError, match="Host key verification failed"):
        transfer.run(made.pk)
    assert list(real_drop.iterdir()) == []

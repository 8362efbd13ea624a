"""Sending a GAR export to the GAR's SFTP drop, with OpenSSH's `sftp` in batch mode.

The GAR collects the directory export by SFTP. Each export (preau.gar.export.make) is one
archive and its MD5, as OPEN-ENT-NG/mediacentre sends them (`<name>.tar.gz`, then `<name>.md5`
holding the archive's MD5). The job `gar_transfer` (queue `long`, where the files are; retried
by the job mechanism, tasks.GAR_TRANSFER_RETRY) runs one `sftp -b` whose batch file:

1. goes to `gar_sftp_remote_dir`;
2. puts both files under temporary names (`.<name>.part`), so nothing of a half-sent export
   ever bears the name the GAR looks for;
3. renames the archive, then the MD5 last: the MD5 is the **end marker**; when the GAR sees
   `<name>.md5`, the archive it names is whole under its final name (and the GAR can check
   it). An archive alone is not announced; a renamed one left by an attempt that failed
   before its MD5 is replaced by the next attempt (`-rm` first: SFTP v3's rename does not
   overwrite).

`sftp -b` stops at the first command that fails and exits non-zero, so the export is recorded
as sent (GarExport.transfer) only when every step succeeded; otherwise its error is recorded
and the job raises, to be tried again. No shell: the command is a list; the host key is the
configured known_hosts line only (`StrictHostKeyChecking=yes`, no other known_hosts file, no
user configuration: `-F none`); `BatchMode=yes` never prompts; the whole run is bounded by
`gar_sftp_timeout_seconds` (the process group is killed past it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

from django.utils import timezone

from preau.gar import idp
from preau.gar.models import GarExport

# At most this much of sftp's error output is kept on the export.
ERROR_CHARS = 600


class TransferError(Exception):
    """The export could not be sent: the message says why, in French."""


def configured() -> bool:
    return bool(idp.conf()["gar_sftp_host"])


def _quoted(value: str) -> str:
    """A path in sftp's batch syntax (double quotes); refused when sftp would read it otherwise
    (a quote, an escape, a line break, a wildcard `put` would expand)."""
    if any(c in value for c in '"\\\n\r*?['):
        raise TransferError(f"chemin impossible à transmettre à sftp : {value!r}")
    return f'"{value}"'


def batch(archive: Path, marker: Path, remote_dir: str) -> str:
    """The batch file: both files under temporary names, then renamed, the marker last."""
    lines = [f"cd {_quoted(remote_dir)}"] if remote_dir else []
    for local in (archive, marker):
        lines.append(f"put {_quoted(str(local))} {_quoted(f'.{local.name}.part')}")
    for local in (archive, marker):
        lines.append(f"-rm {_quoted(local.name)}")
        lines.append(f"rename {_quoted(f'.{local.name}.part')} {_quoted(local.name)}")
    return "\n".join(lines) + "\n"


def command(batch_file: str, known_hosts_file: str) -> list[str]:
    """sftp's command line: batch mode, the configured key and known host only."""
    conf = idp.conf()
    host = conf["gar_sftp_host"]
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    connect = min(30, conf["gar_sftp_timeout_seconds"])
    options = [
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=yes",
        f"UserKnownHostsFile={known_hosts_file}",
        "GlobalKnownHostsFile=/dev/null",
        "UpdateHostKeys=no",
        f"ConnectTimeout={connect}",
        "ServerAliveInterval=15",
        "ServerAliveCountMax=3",
    ]
    line = ["sftp", "-b", batch_file, "-F", "none", "-P", str(conf["gar_sftp_port"])]
    line += ["-i", conf["gar_sftp_key_file"]]
    for option in options:
        line += ["-o", option]
    return [*line, f"{conf['gar_sftp_user']}@{host}"]


def send(archive: Path, marker: Path) -> None:
    """Run sftp once for the two files; TransferError (in French) when it did not succeed."""
    conf = idp.conf()
    timeout = conf["gar_sftp_timeout_seconds"]
    for path in (archive, marker):
        if not path.is_file():
            raise TransferError(f"fichier de l'export absent : {path}")
    with tempfile.TemporaryDirectory(prefix="preau-gar-sftp-") as tmp:
        batch_file, known_hosts = Path(tmp) / "batch", Path(tmp) / "known_hosts"
        batch_file.write_text(batch(archive, marker, conf["gar_sftp_remote_dir"]))
        known_hosts.write_text(conf["gar_sftp_known_host"].strip() + "\n")
        try:
            process = subprocess.Popen(
                command(str(batch_file), str(known_hosts)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # sftp and its ssh: one group, killed together
            )
        except FileNotFoundError as exc:
            raise TransferError(
                "la commande sftp (OpenSSH, paquet openssh-client) est introuvable"
            ) from exc
        try:
            _, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise TransferError(f"envoi interrompu : plus de {timeout} s") from exc
    if process.returncode != 0:
        detail = " ".join(err.split())[-ERROR_CHARS:] or "aucun message"
        raise TransferError(f"sftp a échoué (code {process.returncode}) : {detail}")


def run(export_id: int) -> dict:
    """Send the export `export_id` and record the outcome on it; TransferError again when it
    failed (the job is tried again). An export already sent is not sent twice."""
    record = GarExport.objects.select_related("establishment").filter(pk=export_id).first()
    if record is None:  # removed by gar_export_keep meanwhile: newer exports replace it
        return {"export_id": export_id, "transfer": "removed"}
    result = {"uai": record.establishment.uai, "export_id": record.pk}
    if record.transfer == GarExport.Transfer.SENT:
        return {**result, "transfer": "sent", "again": False}
    if not configured():
        return {**result, "transfer": "off"}
    newer = GarExport.objects.filter(
        establishment=record.establishment,
        created_at__gt=record.created_at,
        transfer=GarExport.Transfer.SENT,
    )
    if newer.exists():  # never a stale export after a newer one: the GAR keeps the last
        record.transfer = GarExport.Transfer.FAILED
        record.transfer_error = "non envoyé : un export plus récent a déjà été envoyé"
        record.save(update_fields=["transfer", "transfer_error"])
        return {**result, "transfer": "superseded"}
    archive = next((n for n in record.files if n.endswith(".tar.gz")), "")
    marker = archive.removesuffix(".tar.gz") + ".md5"
    record.transfer_attempts += 1
    try:
        if not archive:
            raise TransferError("export sans archive (non terminé)")
        directory = Path(record.directory)
        send(directory / archive, directory / marker)
    except TransferError as exc:
        record.transfer, record.transfer_error = GarExport.Transfer.FAILED, str(exc)
        record.save(update_fields=["transfer", "transfer_error", "transfer_attempts"])
        raise
    record.transfer, record.transfer_error = GarExport.Transfer.SENT, ""
    record.sent_at = timezone.now()
    record.save(update_fields=["transfer", "transfer_error", "transfer_attempts", "sent_at"])
    return {**result, "transfer": "sent", "files": [archive, marker]}

"""Configuration: /etc/preau/preau.toml (or $PREAU_CONFIG) overridden by PREAU_<SECTION>_<KEY>.

The file format is the contract in docs/contracts.md. Every key has a default here so the type
of an environment override is known (int, bool, list or str). Unknown sections or keys in the
file are errors: a typo must not silently fall back to a default. The schema owner's
credentials (migrations) are not in that file but in owner.toml beside it, read only with
PREAU_DB_AS_OWNER=1 by the release step's account: the runtime user cannot read them.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

DEFAULT_PATH = "/etc/preau/preau.toml"
# The schema owner's credentials: their own file beside the main one (or $PREAU_OWNER_CONFIG),
# readable only by the release step's account (preau-migrate), never by the runtime (preau).
OWNER_SECTION = "database_owner"
OWNER_FILE = "owner.toml"

ENVIRONMENTS = ("production", "staging", "lab", "test", "dev")

# Legal limit (arrêté of 30 Nov 2006 as amended): personal data deleted within 3 months.
RETENTION_MAX_DAYS = 90

DEFAULTS: dict[str, dict] = {
    "django": {"secret_key": "", "allowed_hosts": ["localhost", "127.0.0.1"], "debug": False},
    "database": {
        "host": "localhost",
        "port": 5432,
        "name": "preau",
        "user": "preau_app",
        "password": "",
        "sslmode": "prefer",
        # CA bundle that verifies the server (sslmode verify-ca/verify-full); empty = libpq's
        # default (~/.postgresql/root.crt).
        "sslrootcert": "",
    },
    # The schema owner's role (migrations): never in the runtime's file, read from OWNER_FILE
    # (or PREAU_DATABASE_OWNER_*) only with PREAU_DB_AS_OWNER=1.
    "database_owner": {"user": "", "password": ""},
    "storage": {
        "media_root": "/srv/preau/shared/media",
        "static_root": "/srv/preau/current/static",
        # A closed establishment's archive bundles (`establishment close`, then handed to the
        # establishment's archives): one .tar.gz and its .sha256 per export.
        "archive_root": "/srv/preau/shared/archives",
    },
    # messages_days: a message older than this is deleted (and a conversation left with none):
    # the platform's rule, one year by default (purge_gone, daily; the audit's DATA-06).
    # closed_purge_after_days: a closed establishment may be purged that many days after its
    # closure (its archive bundle exported and checked first); at most RETENTION_MAX_DAYS.
    "retention": {
        "disable_after_days": 30,
        "delete_after_days": 60,
        "messages_days": 365,
        "closed_purge_after_days": 30,
        # Usage statistics (preau.console): raw visits (a keyed hash per visitor, per
        # half-hour) kept this many days, 1-31; their aggregates this many months, 1-25 (the
        # CNIL's limit for audience measures).
        "usage_raw_days": 7,
        "usage_stats_months": 13,
        # Timetable and STS-Web files uploaded for an import (preau.timetable.imports): kept
        # this many days after the import ran (its report stays), 1-365.
        "timetable_imports_days": 30,
    },
    "metrics": {"multiproc_dir": ""},
    # The job queue (preau.jobs): a worker silent (no heartbeat, every 10 s) for this long is
    # dead and its running jobs run again on another host's worker. Lower = a dead host's job
    # resumes sooner, but a worker stalled that long (a frozen VM) may then run it twice.
    # heavy_memory_mb: the PDF and export jobs (letters, bulletins, LSU, GAR, closure bundle)
    # run in a process of their own whose address space may grow by this much beyond the
    # worker's; past it the job fails ("mémoire dépassée") and the worker goes on
    # (preau.jobs.isolation).
    # heavy_timeout_seconds: such a job's process is killed past this deadline (a child hung on
    # a lock that another thread of the worker held when it forked, or a job that loops) and the
    # job fails, nothing recorded. 900 s = 15 min: the slowest heavy work measured is a whole
    # 600-pupil collège's bulletins (24 class jobs, ~9 s in all, bench bulletins_600); the
    # longest single job is a closed establishment's bundle (all its rows and files, not
    # measured at full size). A hundred times the first leaves that bundle room on a loaded
    # host, and a hung worker takes jobs again within a quarter of an hour.
    "jobs": {"stalled_after_seconds": 60, "heavy_memory_mb": 512, "heavy_timeout_seconds": 900},
    # Notifications by e-mail (off by default; each establishment then opts in): an SMTP relay,
    # ideally the host's own MTA on localhost, so that handing a message over is quick.
    "email": {
        "enabled": False,
        "host": "localhost",
        "port": 25,
        "user": "",
        "password": "",
        "starttls": False,
        "from_address": "Préau <ne-pas-repondre@localhost>",
        "site_url": "",
    },
    # environment: "production" unless the inventory says otherwise (lab, test): demo and bench
    # data refuse to be seeded into production. trusted_proxies: addresses or networks (the
    # load balancers, a front proxy the inventory declares) whose X-Forwarded-For is believed;
    # the client address is the first hop, read from the right, that is not one of them.
    # monitoring_networks: addresses or networks that see /readyz's details.
    "security": {
        "environment": "production",
        "trusted_proxies": ["127.0.0.1", "::1"],
        "monitoring_networks": ["127.0.0.1", "::1"],
    },
    # Uploads (preau.ent.files), in MB: one file, all the files a user uploaded, all the files of
    # an establishment. A file referenced by nothing (its message, document... deleted) is
    # removed by purge_gone once older than orphan_grace_hours (an upload in progress is not).
    "uploads": {
        "max_file_mb": 10,
        "user_quota_mb": 200,
        "establishment_quota_mb": 20480,
        "orphan_grace_hours": 24,
    },
    # clamd's socket: a unix socket path or host:port; empty = uploads are not scanned. When set,
    # an upload clamd cannot scan is refused (fail closed).
    "antivirus": {"clamd_socket": "", "timeout_seconds": 30},
    # The AAF's daily deltas (core/delta.py): drop_dir is where the académie deposits them, one
    # directory per establishment named by its UAI (empty = no drop directory, the job does
    # nothing); a delta that would remove more than max_removal_percent of an establishment's
    # accounts waits for an operator's confirmation (import_aaf_deltas --confirm).
    "aaf": {"drop_dir": "", "max_removal_percent": 10},
    # `migrate_phase expand|contract` (core.migration_locks): a migration waits at most
    # lock_timeout_ms for a table lock (the app's queries wait behind it meanwhile), a statement
    # runs at most statement_timeout_ms; a lock timeout is retried lock_attempts times in all,
    # retry_backoff_ms apart (doubled each time).
    "migrations": {
        "lock_timeout_ms": 5000,
        "statement_timeout_ms": 600000,
        "lock_attempts": 4,
        "retry_backoff_ms": 2000,
    },
    # Federation (preau.federation, docs/federation.md): Préau as a SAML 2.0 service provider of
    # ÉduConnect (pupils, parents) and of the académie's agents identity provider (staff).
    # sp_entity_id empty = off (the login page shows the local form only). Keys and metadata
    # are files (never in the database or the logs): the SP's key (0640 root:preau) and
    # certificate, each IdP's metadata (written by the role, or by `federation_metadata
    # refresh` from its URL after checking its signature with <idp>_metadata_cert).
    "federation": {
        "sp_entity_id": "",
        "base_url": "",
        "sp_key_file": "",
        "sp_cert_file": "",
        # Certificates published in our SP and GAR IdP metadata besides sp_cert_file, during a
        # rotation of the signing key (`deploy.py pki saml-rotate`): the next one, then the old.
        "sp_additional_cert_files": [],
        "educonnect_entity_id": "",
        "educonnect_metadata": "",
        "educonnect_metadata_url": "",
        "educonnect_metadata_cert": "",
        "agents_entity_id": "",
        "agents_metadata": "",
        "agents_metadata_url": "",
        "agents_metadata_cert": "",
        "agents_join_attribute": "ENTPersonJointure",
        "xmlsec_binary": "/usr/bin/xmlsec1",
        # Préau as the SAML 2.0 identity provider of the GAR (preau.gar): gar_idp_entity_id
        # empty = off. It signs with the SP's key and certificate above (one key pair for the
        # platform's SAML); gar_sp_metadata is the GAR's SP metadata file (the only SP it
        # answers); gar_ent_id the ENT's identifier at the GAR (attribute idEnt, the export's
        # file names); gar_export_dir where the directory export job writes its files, one
        # directory per export, the last gar_export_keep of each establishment kept.
        "gar_idp_entity_id": "",
        "gar_sp_metadata": "",
        "gar_ent_id": "",
        "gar_want_signed_requests": True,
        "gar_export_dir": "",
        "gar_export_keep": 7,
        # The GAR's SFTP drop, where each export is sent (preau.gar.transfer, OpenSSH's sftp in
        # batch mode): gar_sftp_host empty = off (the files stay in gar_export_dir). The key is
        # a file (0640 root:preau); gar_sftp_known_host the server's known_hosts line (the only
        # host key accepted); gar_sftp_timeout_seconds bounds one whole transfer.
        "gar_sftp_host": "",
        "gar_sftp_port": 22,
        "gar_sftp_user": "",
        "gar_sftp_remote_dir": "",
        "gar_sftp_key_file": "",
        "gar_sftp_known_host": "",
        "gar_sftp_timeout_seconds": 300,
    },
}


class ConfigError(Exception):
    """The configuration is unusable; the message says which key and why."""


def _coerce(value: str, default, name: str):
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(default, list):
        # JSON list or comma-separated values
        if value.strip().startswith("["):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{name}: invalid JSON list ({exc})") from None
            return [str(v) for v in parsed]
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def load(path: str | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Return the merged configuration (defaults < files < environment), validated. The
    schema owner's credentials are read only when PREAU_DB_AS_OWNER=1 (migrations)."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    path = path or env.get("PREAU_CONFIG", DEFAULT_PATH)
    as_owner = env.get("PREAU_DB_AS_OWNER") == "1"
    config = copy.deepcopy(DEFAULTS)
    if Path(path).is_file():
        _merge_file(config, path, [s for s in DEFAULTS if s != OWNER_SECTION])
    elif "PREAU_CONFIG" in env:
        raise ConfigError(f"configuration file {path} not found (PREAU_CONFIG)")
    if as_owner:
        _merge_owner_file(config, path, env)
    for section, values in DEFAULTS.items():
        if section == OWNER_SECTION and not as_owner:
            continue
        for key, default in values.items():
            name = f"PREAU_{section.upper()}_{key.upper()}"
            if name in env:
                config[section][key] = _coerce(env[name], default, name)
    if as_owner and not config[OWNER_SECTION]["user"]:
        raise ConfigError(
            f"PREAU_DB_AS_OWNER=1 but no schema owner: [{OWNER_SECTION}] user is "
            f"not set ({_owner_path(path, env)} or PREAU_DATABASE_OWNER_USER)"
        )
    validate(config)
    return config


def _owner_path(path: str, environ: Mapping[str, str]) -> str:
    return environ.get("PREAU_OWNER_CONFIG") or str(Path(path).with_name(OWNER_FILE))


def _merge_owner_file(config: dict, path: str, environ: Mapping[str, str]) -> None:
    owner_path = _owner_path(path, environ)
    if Path(owner_path).is_file():
        _merge_file(
            config,
            owner_path,
            [OWNER_SECTION],
            unreadable="only the release step's account (preau-migrate) may read it",
        )
    elif "PREAU_OWNER_CONFIG" in environ:
        raise ConfigError(f"schema owner's file {owner_path} not found (PREAU_OWNER_CONFIG)")


def _merge_file(config: dict, path: str, sections: list[str], unreadable: str = "") -> None:
    """Merge the TOML file at PATH into CONFIG; only SECTIONS may appear in it."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    except PermissionError:
        raise ConfigError(
            f"{path}: permission denied" + (f" ({unreadable})" if unreadable else "")
        ) from None
    for section, values in data.items():
        if section not in sections or not isinstance(values, dict):
            raise ConfigError(_section_error(path, section, sections))
        for key, value in values.items():
            if key not in DEFAULTS[section]:
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}]")
            default = DEFAULTS[section][key]
            if isinstance(default, bool) != isinstance(value, bool) or not isinstance(
                value, type(default)
            ):
                raise ConfigError(
                    f"{path}: [{section}] {key} must be {type(default).__name__}, "
                    f"got {type(value).__name__}"
                )
            config[section][key] = value


def _section_error(path: str, section: str, sections: list[str]) -> str:
    if section == OWNER_SECTION:
        return (
            f"{path}: [{OWNER_SECTION}] does not belong in the runtime's configuration: "
            f"the schema owner's credentials go in {OWNER_FILE} beside it, which only the "
            "release step may read"
        )
    if sections == [OWNER_SECTION]:
        return f"{path}: only [{OWNER_SECTION}] belongs in this file, not [{section}]"
    return f"{path}: unknown section [{section}]"


def _validate_jobs(jobs: dict) -> None:
    """[jobs]: the bounds keep a live worker from being taken for dead and a heavy job from
    being killed for its normal work."""
    if not 20 <= jobs["stalled_after_seconds"] <= 3600:
        raise ConfigError(
            "[jobs] stalled_after_seconds must be between 20 and 3600 (two heartbeats of 10 s "
            "at least: a live worker is never taken for dead)"
        )
    if not 64 <= jobs["heavy_memory_mb"] <= 65536:
        raise ConfigError("[jobs] heavy_memory_mb must be between 64 and 65536 (MB)")
    if not 60 <= jobs["heavy_timeout_seconds"] <= 86400:
        raise ConfigError(
            "[jobs] heavy_timeout_seconds must be between 60 and 86400 (seconds a PDF or export "
            "job may run before its process is killed: less would kill honest jobs on a loaded "
            "host)"
        )


def validate(config: dict) -> None:
    retention = config["retention"]
    disable, delete = retention["disable_after_days"], retention["delete_after_days"]
    if disable < 0 or delete < 0:
        raise ConfigError("[retention] delays must be positive")
    if not 0 <= config["aaf"]["max_removal_percent"] <= 100:
        raise ConfigError("[aaf] max_removal_percent must be between 0 and 100")
    if retention["messages_days"] < 1:
        raise ConfigError("[retention] messages_days must be at least 1 (days a message is kept)")
    if not 0 <= retention["closed_purge_after_days"] <= RETENTION_MAX_DAYS:
        raise ConfigError(
            f"[retention] closed_purge_after_days must be between 0 and {RETENTION_MAX_DAYS} "
            "(a closed establishment's data leave the ENT within 3 months)"
        )
    _validate_jobs(config["jobs"])
    if not 1 <= retention["usage_raw_days"] <= 31:
        raise ConfigError("[retention] usage_raw_days must be between 1 and 31 (raw visits)")
    if not 1 <= retention["timetable_imports_days"] <= 365:
        raise ConfigError(
            "[retention] timetable_imports_days must be between 1 and 365 (days an imported "
            "timetable file is kept)"
        )
    if not 1 <= retention["usage_stats_months"] <= 25:
        raise ConfigError(
            "[retention] usage_stats_months must be between 1 and 25 (the CNIL's limit for "
            "audience measures)"
        )
    if disable + delete > RETENTION_MAX_DAYS:
        raise ConfigError(
            f"[retention] disable_after_days + delete_after_days = {disable + delete} days "
            f"exceeds the legal limit of {RETENTION_MAX_DAYS} days (3 months)"
        )
    site_url = config["email"]["site_url"]
    if site_url and not site_url.startswith(("https://", "http://")):
        raise ConfigError("[email] site_url must start with https:// (e.g. https://ent.example.fr)")
    _validate_security(config)
    _validate_uploads(config)
    _validate_federation(config)
    if not config["django"]["secret_key"] and not config["django"]["debug"]:
        raise ConfigError("[django] secret_key is required when debug is false")


def _validate_security(config: dict) -> None:
    for key in ("trusted_proxies", "monitoring_networks"):
        for value in config["security"][key]:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ConfigError(
                    f"[security] {key}: {value!r} is not an IP address or network"
                ) from None
    if config["security"]["environment"] not in ENVIRONMENTS:
        raise ConfigError(f"[security] environment must be one of {', '.join(ENVIRONMENTS)}")


def _validate_uploads(config: dict) -> None:
    for key, value in config["uploads"].items():
        if value <= 0:
            raise ConfigError(f"[uploads] {key} must be positive")
    socket = config["antivirus"]["clamd_socket"]
    if socket and not socket.startswith("/") and not socket.rpartition(":")[2].isdigit():
        raise ConfigError(
            "[antivirus] clamd_socket must be a unix socket path (/run/clamav/clamd.ctl) "
            "or host:port"
        )
    if config["antivirus"]["timeout_seconds"] <= 0:
        raise ConfigError("[antivirus] timeout_seconds must be positive")
    for key, value in config["migrations"].items():
        if value <= 0:
            raise ConfigError(f"[migrations] {key} must be positive")


def _validate_federation(config: dict) -> None:
    federation = config["federation"]
    _validate_gar_transfer(federation)
    if federation["gar_idp_entity_id"]:
        required = ["base_url", "sp_key_file", "sp_cert_file", "gar_sp_metadata", "gar_ent_id"]
        missing = [key for key in required if not federation[key]]
        if missing:
            raise ConfigError(
                f"[federation] gar_idp_entity_id is set: {', '.join(missing)} required too"
            )
    if not federation["sp_entity_id"]:
        return
    required = ["base_url", "sp_key_file", "sp_cert_file"]
    missing = [key for key in required if not federation[key]]
    if missing:
        raise ConfigError(f"[federation] sp_entity_id is set: {', '.join(missing)} required too")
    if not federation["base_url"].startswith(("https://", "http://")):
        raise ConfigError("[federation] base_url must start with https:// (the platform's URL)")
    for idp in ("educonnect", "agents"):
        if federation[f"{idp}_entity_id"] and not federation[f"{idp}_metadata"]:
            raise ConfigError(f"[federation] {idp}_metadata (the IdP's metadata file) is required")
        if federation[f"{idp}_metadata_url"] and not federation[f"{idp}_metadata_cert"]:
            raise ConfigError(
                f"[federation] {idp}_metadata_url needs {idp}_metadata_cert: metadata fetched "
                "from a URL is used only once its signature is checked"
            )


def _validate_gar_transfer(federation: dict) -> None:
    """The export's retention and the GAR's SFTP drop: complete when on, and nothing that could
    break out of sftp's batch file (a quote or a line break in the remote directory)."""
    if federation["gar_export_keep"] < 1:
        raise ConfigError("[federation] gar_export_keep must be at least 1 (exports kept)")
    if not federation["gar_sftp_host"]:
        return
    required = ["gar_sftp_user", "gar_sftp_key_file", "gar_sftp_known_host"]
    missing = [key for key in required if not federation[key]]
    if missing:
        raise ConfigError(f"[federation] gar_sftp_host is set: {', '.join(missing)} required too")
    if not 1 <= federation["gar_sftp_port"] <= 65535:
        raise ConfigError("[federation] gar_sftp_port must be between 1 and 65535")
    if federation["gar_sftp_timeout_seconds"] <= 0:
        raise ConfigError("[federation] gar_sftp_timeout_seconds must be positive")
    if len(federation["gar_sftp_known_host"].split()) < 3:
        raise ConfigError(
            "[federation] gar_sftp_known_host must be a known_hosts line: "
            "'host key-type base64-key' (ssh-keyscan's output)"
        )
    for key in ("gar_sftp_host", "gar_sftp_user"):
        value = federation[key]
        if value.startswith("-") or "@" in value or any(c.isspace() for c in value):
            raise ConfigError(f"[federation] {key}: {value!r} is not a host or user name")
    for key in ("gar_sftp_remote_dir", "gar_sftp_known_host"):
        if any(c in federation[key] for c in '"\n\r'):
            raise ConfigError(f"[federation] {key} must hold no quote nor line break")

"""The database connection's TLS settings (issue #21, internal PKI): preau.toml's sslmode and
sslrootcert reach libpq through Django's connection options."""

import json
import os
import subprocess
import sys

import pytest

from preau import config

SETTINGS = (
    '[django]\nsecret_key = "s"\n[database]\nhost = "10.0.2.31"\nsslmode = "verify-full"\n'
    'sslrootcert = "/etc/preau/pki/ca.pem"\n'
)


def options(path) -> dict:
    """Django's connection options for the configuration at `path`, in a fresh interpreter."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    )
    env = {**os.environ, "PREAU_CONFIG": str(path), "DJANGO_SETTINGS_MODULE": "preau.settings"}
    env = {k: v for k, v in env.items() if not k.startswith("PREAU_DATABASE_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verify_full_and_the_ca_bundle_reach_libpq(tmp_path):
    path = tmp_path / "preau.toml"
    path.write_text(SETTINGS)
    assert config.load(str(path), environ={})["database"]["sslrootcert"] == "/etc/preau/pki/ca.pem"
    opts = options(path)
    assert opts["sslmode"] == "verify-full" and opts["sslrootcert"] == "/etc/preau/pki/ca.pem"


def test_libpq_never_looks_for_a_client_certificate(tmp_path):
    """On Debian 13 the migrations account's home, /nonexistent, exists (mtail's, mode 0700):
    libpq failed every connection on "~/.postgresql/postgresql.crt: Permission denied". The app
    authenticates with a password only, so libpq is told not to send a certificate at all."""
    path = tmp_path / "preau.toml"
    path.write_text(SETTINGS)
    assert options(path)["sslcertmode"] == "disable"


def test_no_bundle_leaves_libpq_its_default(tmp_path):
    path = tmp_path / "preau.toml"
    path.write_text(SETTINGS.replace('sslrootcert = "/etc/preau/pki/ca.pem"\n', ""))
    assert "sslrootcert" not in options(path)


def test_a_bundle_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "preau.toml"
    path.write_text(SETTINGS.replace('"/etc/preau/pki/ca.pem"', "1"))
    with pytest.raises(config.ConfigError, match="sslrootcert must be str"):
        config.load(str(path), environ={})


def test_several_db_hosts_connect_to_the_one_that_takes_writes(tmp_path):
    """Under Patroni the app lists every db host: libpq must skip a standby (issue #22)."""
    path = tmp_path / "preau.toml"
    path.write_text(SETTINGS.replace('"10.0.2.31"', '"10.0.2.31,10.0.2.32"'))
    assert options(path)["target_session_attrs"] == "read-write"
    path.write_text(SETTINGS)
    assert "target_session_attrs" not in options(path)

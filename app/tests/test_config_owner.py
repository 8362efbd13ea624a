"""The schema owner's credentials (issue #16, item 10): the runtime's configuration never holds
them; they are read from owner.toml, beside preau.toml, only for migrations
(PREAU_DB_AS_OWNER=1), by an account the runtime user is not."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from preau import config

RUNTIME = (
    '[django]\nsecret_key = "s"\n'
    '[database]\nhost = "db"\nuser = "preau_app"\npassword = "app-secret"\n'
)
OWNER = '[database_owner]\nuser = "preau_owner"\npassword = "owner-secret"\n'
AS_OWNER = {"PREAU_DB_AS_OWNER": "1"}


@pytest.fixture
def etc(tmp_path):
    """A configuration directory like /etc/preau: preau.toml and owner.toml."""
    (tmp_path / "preau.toml").write_text(RUNTIME)
    (tmp_path / "owner.toml").write_text(OWNER)
    return tmp_path


def load(etc, environ=None):
    return config.load(str(etc / "preau.toml"), environ=environ or {})


def test_migrations_read_the_owner_file_beside_the_runtime_one(etc):
    loaded = load(etc, AS_OWNER)
    assert loaded["database_owner"] == {"user": "preau_owner", "password": "owner-secret"}
    assert loaded["database"]["user"] == "preau_app" and loaded["database"]["host"] == "db"


def test_the_runtime_never_reads_the_owner_file(etc):
    (etc / "owner.toml").write_text("not toml [")  # would fail if it were opened
    loaded = load(etc, {"PREAU_DATABASE_OWNER_PASSWORD": "from-env"})
    assert loaded["database_owner"] == {"user": "", "password": ""}
    with pytest.raises(config.ConfigError, match="owner.toml: invalid TOML"):
        load(etc, AS_OWNER)


def test_owner_section_in_the_runtime_file_is_refused(etc):
    (etc / "preau.toml").write_text(RUNTIME + OWNER)
    for environ in ({}, AS_OWNER):
        with pytest.raises(
            config.ConfigError,
            match=r"\[database_owner\] does not belong in the "
            r"runtime's configuration.*owner.toml",
        ):
            load(etc, environ)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[django]\nsecret_key = "t"\n',
            r"only \[database_owner\] belongs in this file, not \[django\]",
        ),
        ('[database_owner]\npasswd = "x"\n', "unknown key 'passwd' in \\[database_owner\\]"),
        ("[database_owner]\nuser = 3\n", "user must be str, got int"),
        (
            '[database_owner]\npassword = "x"\n',
            r"no schema owner: \[database_owner\] user is not set",
        ),
    ],
)
def test_owner_file_errors(etc, text, message):
    (etc / "owner.toml").write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        load(etc, AS_OWNER)


def test_owner_file_location_and_environment_overrides(etc, tmp_path_factory):
    (etc / "owner.toml").unlink()
    with pytest.raises(
        config.ConfigError, match="no schema owner.*owner.toml or PREAU_DATABASE_OWNER_USER"
    ):
        load(etc, AS_OWNER)
    moved = tmp_path_factory.mktemp("elsewhere") / "owner.toml"
    with pytest.raises(config.ConfigError, match=f"{moved} not found"):
        load(etc, {**AS_OWNER, "PREAU_OWNER_CONFIG": str(moved)})
    moved.write_text(OWNER)
    assert (
        load(etc, {**AS_OWNER, "PREAU_OWNER_CONFIG": str(moved)})["database_owner"]["user"]
        == "preau_owner"
    )
    loaded = load(
        etc, {**AS_OWNER, "PREAU_DATABASE_OWNER_USER": "o", "PREAU_DATABASE_OWNER_PASSWORD": "p"}
    )
    assert loaded["database_owner"] == {"user": "o", "password": "p"}


@contextlib.contextmanager
def another_user(path):
    """Code in the block runs as a user who cannot read PATH (nobody when we are root)."""
    if os.geteuid() != 0:
        path.chmod(0)
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_unreadable_owner_file_is_a_clear_error(etc):
    shared = Path(tempfile.mkdtemp(prefix="preau-etc-"))  # pytest's tmp root is private
    try:
        _unreadable_owner_file(shutil.copytree(etc, shared, dirs_exist_ok=True))
    finally:
        shutil.rmtree(shared)


def _unreadable_owner_file(etc):
    etc.chmod(0o755)
    (etc / "preau.toml").chmod(0o644)
    (etc / "owner.toml").chmod(0o600)
    with another_user(etc / "owner.toml"):
        assert load(etc)["database"]["password"] == "app-secret"  # the runtime starts
        with pytest.raises(
            config.ConfigError,
            match="owner.toml: permission denied \\(only the release step's account",
        ):
            load(etc, AS_OWNER)


def _database_user(etc, **environ):
    """(exit code, output) of Django's settings loaded in a fresh interpreter."""
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['USER'], d['PASSWORD'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREAU_")}
    env.update(
        PREAU_CONFIG=str(etc / "preau.toml"), DJANGO_SETTINGS_MODULE="preau.settings", **environ
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_settings_connect_as_the_owner_only_for_migrations(etc):
    assert _database_user(etc) == (0, "preau_app app-secret")
    assert _database_user(etc, PREAU_DB_AS_OWNER="1") == (0, "preau_owner owner-secret")
    (etc / "owner.toml").unlink()
    code, output = _database_user(etc, PREAU_DB_AS_OWNER="1")
    assert code != 0
    assert (
        "ImproperlyConfigured: Préau configuration: PREAU_DB_AS_OWNER=1 but no schema owner"
        in output
    )

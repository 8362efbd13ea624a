"""Test harness: a real PostgreSQL 15 started for the session (or PREAU_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

PG_BIN = Path(os.environ.get("PREAU_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: use the `postgres` system user then.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class _Server:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="preau-pg-"))
        self.data = self.tmp / "data"
        self.sock = self.tmp / "sock"
        self.port = _free_port()
        self.sock.mkdir()
        if os.geteuid() == 0:
            self.tmp.chmod(0o755)
            shutil.chown(self.tmp, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        opts = (
            f"-p {self.port} -k {self.sock} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    opts,
                    "-l",
                    str(self.tmp / "log"),
                    "-w",
                    "-t",
                    "30",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """Connection settings of the PostgreSQL server the tests use."""
    url = os.environ.get("PREAU_TEST_DATABASE_URL")
    if url:
        parsed = urlparse(url)
        yield {
            "HOST": parsed.hostname or "localhost",
            "PORT": parsed.port or 5432,
            "USER": unquote(parsed.username or "postgres"),
            "PASSWORD": unquote(parsed.password or ""),
            "NAME": (parsed.path or "/preau").lstrip("/") or "preau",
        }
        return
    server = _Server()
    server.start()
    try:
        yield {
            "HOST": str(server.sock),
            "PORT": server.port,
            "USER": "postgres",
            "PASSWORD": "",
            "NAME": "preau",
        }
    finally:
        server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server):
    from django.conf import settings

    db = settings.DATABASES["default"]
    db.update(postgres_server)  # in place: connection objects share this dict
    db["CONN_MAX_AGE"] = 0
    if not os.environ.get("PREAU_TEST_DATABASE_URL"):
        db["OPTIONS"] = {**db.get("OPTIONS", {}), "sslmode": "disable"}


@pytest.fixture
def client():
    """pytest-django's client, except that force_login() also passes the second factor of the
    administrators who need one (tests.helpers.SecondFactorClient; test_two_factor.py proves
    that without it they reach nothing)."""
    from tests.helpers import SecondFactorClient

    return SecondFactorClient()


@pytest.fixture
def school(db):
    """A school of its own for the test: one user per profile and a row of every service model
    (tests.school.make_school)."""
    from tests.school import make_school

    return make_school()


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("PREAU_ARTIFACTS_DIR", Path(__file__).parent / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def call_json():
    """Run a management command with --json and return the parsed output."""
    import io
    import json

    from django.core.management import call_command

    def run(*args, **kwargs):
        out = io.StringIO()
        call_command(*args, "--json", stdout=out, **kwargs)
        return json.loads(out.getvalue())

    return run


@pytest.fixture
def wait_for():
    def wait(predicate, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    return wait


# --- browser tests (Playwright + Debian's Chromium, axe-core from axe-playwright-python) -------
# axe-core comes from the `axe-playwright-python` PyPI package (which ships axe.min.js); nothing
# third-party is copied into the repository. Screenshots go to $PREAU_ARTIFACTS_DIR.

# Debian's Chromium in its old headless mode: the headless shell (package
# chromium-headless-shell), what Playwright itself runs for headless Chromium. The full
# browser's new headless mode drew twice the CPU for the same pages (measured on this suite
# alone on 2 cores: 179 against 87 core-seconds of browser, 248 against 187 s; beside the lab
# in a clean-clone CI run, 411 against 363 s).
CHROMIUM = os.environ.get("PREAU_CHROMIUM", "/usr/bin/chromium-headless-shell")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _axe_source() -> str:
    try:
        import axe_playwright_python
    except ImportError:
        pytest.skip("axe-playwright-python is not installed (see requirements-test.in)")
    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


# Pages and expect() wait up to 30 s: the CI runs the browser tests beside the lab, on 2 busy
# cores.
TIMEOUT_MS = 30_000


def prepare_page(page) -> None:
    """The tests' settings for a new page."""
    from playwright.sync_api import expect

    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    prepare_page(page)
    yield page
    context.close()


@pytest.fixture
def check_a11y(artifacts_dir):
    source = _axe_source()

    def check(page, name: str) -> None:
        page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)
        if not page.evaluate("typeof axe !== 'undefined'"):
            # Sent once per browser context: its next pages get axe as they load (~0.1 s a
            # check less than sending its 500 kB again each time), this one gets it now.
            page.context.add_init_script(source)
            page.add_script_tag(content=source)
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag',
                values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }""")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe violations on {name}: {bad}"

    return check


def login(page, username, password):
    page.goto("/connexion/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def enrol_in_browser(page) -> bytes:
    """On the second factor's enrolment page (an administrator's first login lands there): type
    the code an authenticator app computes from the secret shown, leave the recovery codes.
    Returns the secret key (tests.helpers.totp_code computes the next codes)."""
    import base64

    from tests.helpers import totp_code

    page.wait_for_url("**/compte/double-authentification/activer/**")
    key = base64.b32decode(page.locator("#cle-secrete").inner_text().replace(" ", ""))
    page.get_by_label("Code à 6 chiffres").fill(totp_code(key))
    page.get_by_role("button", name="Activer", exact=True).click()
    page.get_by_role("link", name="J'ai noté mes codes, continuer").click()
    return key


@pytest.fixture
def database(postgres_server):
    """A database of its own on the tests' server (for code run in a subprocess), dropped
    afterwards."""
    import psycopg

    name = f"preau_upgrade_{uuid.uuid4().hex[:8]}"
    server = {
        "host": postgres_server["HOST"],
        "port": postgres_server["PORT"],
        "user": postgres_server["USER"],
        "password": postgres_server["PASSWORD"],
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {**postgres_server, "NAME": name}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def run_jobs(transactional_db):
    """Run the queued background jobs now with a real worker on a connection of its own,
    until the queues are empty (it sees committed rows only: the test's database is
    transactional). No periodic job is deferred meanwhile. The queue's tables are emptied first:
    they are procrastinate's (not Django-managed), so the flush between tests leaves them."""
    from django.db import connection

    from preau.jobs.queue import run_worker

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers CASCADE"
        )

    def run() -> None:
        # In a thread of its own: a browser test's Playwright may have left an event loop
        # running in this one, and the worker starts its own (asyncio.run).
        errors: list[BaseException] = []

        def work() -> None:
            try:
                run_worker(wait=False)
            except BaseException as exc:  # re-raised in the test
                errors.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(120)
        if errors:
            raise errors[0]

    return run

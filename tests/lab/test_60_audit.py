"""The audit on real hosts: it passes on a converged lab, changes nothing (also as the auditor,
who cannot write), catches each injected drift with evidence naming the cause, passes again
after a converge, and its HTML report renders in Chromium. On the same audits (no audit run
for them alone: the suite's budget): a waiver waives a drift and an expired one does not, the
sshd drift shows as a new failure since the full audit, and the full audit's report directory,
signed with a throwaway auditor key, verifies, then fails once a copy of it is edited."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from preau_ops import audit
from preau_ops.paths import ARTIFACTS, LAB_INVENTORY, STATE_DIR

from .conftest import AUDIT_REPORTS as REPORTS
from .conftest import deploy, failures, run_audit
from .test_32_journeys import ARGS, CHROMIUM

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

# Fast controls for the drift cases (the converge in check mode takes minutes).
QUICK = ["DECL", "FW", "SSH", "HARD-01", "TLS"]
# The history of the full audit and the sshd drift's (since last time), this module's own.
HISTORY = REPORTS / "history"


def admin(host):
    return audit.testinfra_host(host, sudo=True)


# Made once by `converged`: the full audit of the converged lab and the auditor's, (exit code,
# audit.json, seconds) each; every host's state (_states) before and after them.
FULL: list[tuple[int, dict, float]] = []
AUDITOR: list[tuple[int, dict, float]] = []
STATES: list[dict[str, dict[str, str]]] = []


@pytest.fixture(scope="module")
def converged(lab, auditor_key):
    """The platform as declared: this tree's app released, a restore drill within BKP-04's
    26 h (the lab's daily drill may not have run yet); the modules before leave the hosts as
    they found them, converged (test_20's second converge changed nothing).
    The full audit skips DRIFT-01, a converge of the whole lab in check mode (~110 s of the
    suite's 2 busy cores, as long as every other control together): test_20's real second
    converge is the stronger proof that nothing drifts after a converge, and the drift case
    below runs DRIFT-01 on the db host, where it must fail on a hand-edited file.
    The auditor's audit runs meanwhile (both are read-only, as audits by an admin and an auditor
    at the same time would be; the auditor's skips the drift too), and every host's state is
    read before and after the pair."""
    deploy("release", timeout=1200)
    code, _ = run_audit("precondition-drill", "--control", "BKP-04")
    if code != 0:
        deploy("backup", "drill", timeout=900)
    before = _states(lab)
    full, auditor = _audits(auditor_key)
    STATES[:] = [before, _states(lab)]
    FULL[:], AUDITOR[:] = [full], [auditor]
    return lab


def _audits(auditor_key) -> tuple[tuple[int, dict, float], ...]:
    """The full audit (a new HISTORY's first) and the auditor's, at once: (exit code,
    audit.json, seconds) of each."""

    def timed(audit, *args, **kwargs):
        started = time.monotonic()
        return (*audit(*args, **kwargs), time.monotonic() - started)

    shutil.rmtree(HISTORY, ignore_errors=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        auditor = pool.submit(timed, run_audit, "auditor", "--as-auditor", "--lang", "en")
        full = timed(_full_audit, auditor_key)
        return full, auditor.result()


@pytest.fixture(scope="module")
def auditor_key():
    """A throwaway auditor's GnuPG key in a keyring of its own (GNUPGHOME), and its public
    key exported: (environment for deploy.py with GNUPGHOME, key id, public key file)."""
    home = tempfile.mkdtemp(prefix="preau-gpg-lab-")
    uid = "Lab Auditor <auditor@lab.invalid>"

    def gpg(*args):
        return subprocess.run(
            ["gpg", "--batch", "--homedir", home, *args], capture_output=True, check=True
        ).stdout

    gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    public = Path(home) / "auditor.asc"
    public.write_bytes(gpg("--armor", "--export", uid))
    yield dict(os.environ, GNUPGHOME=home), uid, public
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], check=False)
    shutil.rmtree(home, ignore_errors=True)


def _full_audit(auditor_key, *options):
    env, uid, _ = auditor_key
    return run_audit(
        "full",
        "--skip",
        "DRIFT-01",
        "--sign-key",
        uid,
        "--history",
        str(HISTORY),
        *options,
        env=env,
    )


def test_audit_passes_on_a_converged_lab(converged):
    code, data, _ = FULL[0]
    assert failures(data) == {}, failures(data)
    assert code == 0
    assert data["counts"]["passed"] >= 40 and data["counts"]["waived"] == 0
    for kind in ("audit.xml", "audit.html"):
        assert (REPORTS / "full" / kind).stat().st_size > 1000
    # each check's evidence: the commands it ran on the host and their output, trimmed
    ssh = next(r for r in data["results"] if r["control"] == "SSH-01")
    assert any("sshd -T" in c["command"] and c["output"] for c in ssh["commands"]), ssh
    assert (REPORTS / "full" / "MANIFEST.asc").exists()
    print(f"full audit: {data['duration']} s, {data['counts']}")


# --------------------------------------------------------------------------- read-only


def _state(host) -> dict[str, str]:
    """What an audit must not change: /etc's content, units and their states, packages."""
    remote = admin(host)
    etc = remote.check_output(
        "find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum"
    )
    # The services timers start come and go with the clock (systemd-tmpfiles-clean ran during
    # one run's audit: 'activating' before, 'inactive' after): their load state only.
    # D-Bus starts timedated, hostnamed and localed on demand (the operations' clock
    # precondition runs `timedatectl`) and they exit 30 s after the last call, leaving
    # list-units: one CI run saw bastion's timedated active before and gone after. Not compared.
    units = remote.check_output(
        "timed=$(systemctl list-timers --all --no-legend --plain "
        "| awk '$NF ~ /[.]service$/ {print $NF}' | paste -sd'|'); "
        "systemctl list-units --all --no-legend --plain --type=service,socket,timer,mount "
        '| awk -v timed="^($timed)$" \'{print $1, $2, ($1 ~ timed ? "(timed)" : $3)}\' '
        "| grep -vE '^(session-|user@|user-runtime|run-|systemd-(timedated|hostnamed|localed)[.])' "
        "| sort"
    )
    packages = remote.check_output(
        "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n'"
    )
    return {"etc": etc, "units": units, "packages": packages}


def _states(lab) -> dict[str, dict[str, str]]:
    """_state of every host, read at once (one SSH connection each, in parallel)."""
    with ThreadPoolExecutor(max_workers=len(lab.hosts)) as pool:
        return dict(zip(lab.hosts, pool.map(_state, lab.hosts.values()), strict=True))


def test_the_audits_change_nothing_and_work_as_the_auditor(converged):
    """Neither the full audit nor the auditor's, run at once, changed a host; the auditor's
    passed as the auditor."""
    before, after = STATES
    for name, state in before.items():
        for what, value in state.items():
            assert value == after[name][what], f"{name}: the audits changed {what}"
    code, data, elapsed = AUDITOR[0]
    assert data["as_auditor"] and data["account"] == "auditor"
    assert failures(data) == {}, failures(data)
    assert code == 0
    skipped = {r["control"] for r in data["results"] if r["status"] == "skipped"}
    assert "DRIFT-01" in skipped
    # its duration is bench's `audit` row (budget 60 s), not a timed test: printed only
    print(f"the auditor's audit: {elapsed:.1f} s")
    # the auditor really cannot write: no sudo beyond the read-only rule, no write in /etc
    auditor = audit.Remote(converged.hosts_in("db")[0], as_auditor=True)
    assert auditor.run("sudo -n true").rc != 0
    assert auditor.run("sudo -n /usr/bin/tee /etc/preau-audit-test </dev/null").rc != 0
    assert auditor.run("touch /etc/preau-audit-test").rc != 0


# --------------------------------------------------------------------------- drift


def _check_drift(
    name: str, host, expected: set[tuple[str, str]], cause: str, controls=QUICK, options=()
):
    """The drift fails exactly the EXPECTED results, each naming its cause; the audit's data."""
    code, data = run_audit(f"drift-{name}", "--limit", host.name, "--control", *controls, *options)
    found = failures(data)
    assert set(found) == expected, found
    for key in expected:
        assert cause in found[key], f"{key}: {found[key]!r} does not name {cause!r}"
    assert code != 0
    return data


@contextlib.contextmanager
def waivers_declared(*entries):
    """The lab inventory's group_vars/all/audit.yml with these waivers, removed afterwards."""
    import yaml

    path = LAB_INVENTORY / "group_vars" / "all" / "audit.yml"
    assert not path.exists(), f"{path}: left by someone else, not this test's to replace"
    path.write_text(yaml.safe_dump({"audit_waivers": list(entries)}, sort_keys=False))
    try:
        yield path
    finally:
        path.unlink()


def waiver(control: str, hosts: str, expires: datetime.date) -> dict:
    return {
        "control": control,
        "hosts": hosts.encode().decode(),  # a plain str (inventory names are tagged)
        "justification": "lab test: an accepted deviation",
        "accepted_by": "the lab's RSSI",
        "expires": expires.isoformat(),
    }


def test_an_undeclared_port_fails_the_port_control(converged):
    db = converged.hosts_in("db")[0]
    remote = admin(db)
    remote.check_output(
        "systemd-run --unit preau-audit-drift-port python3 -m http.server 8089 --bind 0.0.0.0"
    )
    try:
        time.sleep(1)
        _check_drift("port", db, {("DECL-03", db.name)}, "8089")
    finally:
        remote.run("systemctl stop preau-audit-drift-port")


def test_a_weakened_sshd_fails_the_ssh_control_and_is_new_since_last_time(converged):
    """Compared with the audit before it in HISTORY (the full audit; run alone, a quick one
    first), the sshd changed by hand shows as a new failure, which passed before."""
    web = converged.hosts_in("lb")[0]
    if not list(HISTORY.glob("*.json")):
        run_audit(
            "before-sshd", "--limit", web.name, "--control", *QUICK, "--history", str(HISTORY)
        )
    remote = admin(web)
    conf = "/etc/ssh/sshd_config.d/00-preau.conf"
    remote.check_output(
        f"cp -p {conf} /root/00-preau.conf.audit && sed -i "
        f"'s/^PasswordAuthentication no/PasswordAuthentication yes/' {conf}"
    )
    try:
        data = _check_drift(
            "sshd", web, {("SSH-01", web.name)}, "passwordauthentication is yes",
            options=("--history", str(HISTORY)),
        )  # fmt: skip
    finally:
        remote.run(f"mv /root/00-preau.conf.audit {conf}")
    since = data["since"]
    assert since["previous"], "no previous audit in the history"
    new = {(r["control"], r["host"]): r["before"] for r in since["new_failures"]}
    assert new == {("SSH-01", web.name): "passed"}, since["new_failures"]
    assert since["fixed"] == [] and since["new_hosts"] == []
    assert since["operations"]["entries"] is not None, since["operations"]


def test_a_stopped_backup_timer_fails_the_services_control_and_a_waiver_waives_it(converged):
    """The drift's audit runs under a waiver of DECL-02 on the backup group (valid until
    tomorrow): the failure is waived, not passed (its message kept), and the exit code is 0."""
    ops = converged.hosts_in("backup")[0]
    remote = admin(ops)
    remote.check_output("systemctl stop preau-backup-diff.timer")
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    try:
        with waivers_declared(waiver("DECL-02", "backup", tomorrow)):
            code, data = run_audit("drift-timer", "--limit", ops.name, "--control", *QUICK)
    finally:
        remote.run("systemctl start preau-backup-diff.timer")
    assert failures(data) == {} and code == 0, failures(data)
    waived = [r for r in data["results"] if r["status"] == "waived"]
    assert [(r["control"], r["host"]) for r in waived] == [("DECL-02", ops.name)]
    assert "preau-backup-diff.timer" in waived[0]["message"]
    assert waived[0]["waiver"] == {
        "hosts": "backup",
        "justification": "lab test: an accepted deviation",
        "accepted_by": "the lab's RSSI",
        "expires": tomorrow.isoformat(),
    }
    assert data["counts"]["waived"] == 1
    # JUnit (CI's view) says the same: a skip with the waiver, not a failure
    junit = (REPORTS / "drift-timer" / "audit.xml").read_text()
    assert "<failure" not in junit and 'type="waived"' in junit, junit[:2000]


def test_a_short_lived_certificate_fails_the_certificate_control(converged):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    lb = converged.hosts_in("lb")[0]
    remote = admin(lb)
    domain = lb.vars["preau_domain"]
    chain = f"/etc/nginx/tls/{domain}.fullchain.pem"
    key = serialization.load_pem_private_key((STATE_DIR / "ca" / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((STATE_DIR / "ca" / "ca.crt").read_bytes())
    current = x509.load_pem_x509_certificate(remote.check_output(f"cat {chain}").encode())
    now = datetime.datetime.now(datetime.UTC)
    short = (
        x509.CertificateBuilder()
        .subject_name(current.subject)
        .issuer_name(ca.subject)
        .public_key(current.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=5))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = (
        short.public_bytes(serialization.Encoding.PEM).decode()
        + ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    remote.check_output(
        f"cp -p {chain} /root/fullchain.audit && "
        f"printf '%s' '{pem}' > {chain} && systemctl restart nginx"
    )
    try:
        _wait_for_certificate(lb, short)
        _check_drift(
            "certificate", lb, {("TLS-03", lb.name)}, "expires in 4 days", controls=["TLS"]
        )
    finally:
        remote.run(f"mv /root/fullchain.audit {chain} && systemctl restart nginx")
        _wait_for_certificate(lb, current)


def _wait_for_certificate(lb, certificate, timeout: float = 30) -> None:
    """Wait until nginx serves this certificate."""
    import ssl

    from cryptography import x509

    deadline = time.monotonic() + timeout
    while True:
        served = x509.load_pem_x509_certificate(
            ssl.get_server_certificate((lb.address, 443), timeout=5).encode()
        )
        if served.serial_number == certificate.serial_number:
            return
        assert time.monotonic() < deadline, "nginx still serves the previous certificate"
        time.sleep(0.5)


def test_a_hand_edited_config_file_fails_the_sysctl_control(converged):
    db = converged.hosts_in("db")[0]
    remote = admin(db)
    conf = "/etc/sysctl.d/90-preau.conf"
    remote.check_output(f"sed -i 's/^kernel.sysrq = 0/kernel.sysrq = 1/' {conf}")
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    try:
        # under a waiver that expired yesterday: still failed, and the message says so
        with waivers_declared(waiver("HARD-01", db.name, yesterday)):
            _check_drift(
                "config", db, {("HARD-01", db.name)},
                f"the waiver expired on {yesterday.isoformat()}",
            )  # fmt: skip
    finally:
        remote.run(f"sed -i 's/^kernel.sysrq = 1/kernel.sysrq = 0/' {conf}")


def test_after_a_converge_the_audit_passes_again(converged):
    """A drift left in place (the drift cases above each put theirs back) is repaired by a
    converge of what it touched: the sysctl file edited by hand on the db host, HARD-01 and
    DRIFT-01 (a converge of the db host in check mode) failing, the latter naming the task
    that would write the file back, then `converge --limit DB --tags base-sysctl`, and the
    quick controls pass again with the file as declared."""
    db = converged.hosts_in("db")[0]
    remote = admin(db)
    conf = "/etc/sysctl.d/90-preau.conf"
    declared = remote.check_output(f"sha256sum {conf}")
    remote.check_output(f"sed -i 's/^kernel.sysrq = 0/kernel.sysrq = 1/' {conf}")
    try:
        code, data = run_audit(
            "before-converge", "--limit", db.name, "--control", "HARD-01", "DRIFT-01"
        )
        found = failures(data)
        assert ("HARD-01", db.name) in found, found
        drift = found.get(("DRIFT-01", "platform"), "")
        assert f"{db.name}: " in drift and "Write the kernel settings" in drift, found
        deploy("converge", "--limit", db.name, "--tags", "base-sysctl", timeout=1800)
        repaired = remote.check_output(f"sha256sum {conf}")
    finally:  # whatever failed above, the file as declared for the modules after this one
        remote.run(f"sed -i 's/^kernel.sysrq = 1/kernel.sysrq = 0/' {conf}")
    assert repaired == declared, "the converge left the hand-edited sysctl file"
    code, data = run_audit("after-converge", "--limit", db.name, "--control", *QUICK)
    assert failures(data) == {}, failures(data)
    assert code == 0


# --------------------------------------------------------------------------- the report


def test_the_html_report_renders_in_chromium(converged):
    from playwright.sync_api import sync_playwright

    report = REPORTS / "full" / "audit.html"
    if not report.exists():
        run_audit("full", "--control", *QUICK)
    html = report.read_text()
    # the evidence may quote URLs (scrape targets: TLS-05); what must not be there is an asset
    # the browser would fetch
    external = re.findall(r"""(?:src|href)=["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", html)
    assert not external, f"the report must not load external assets: {external}"
    shot = ARTIFACTS / "audit" / "audit-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.resolve().as_uri())
        assert page.locator("h1").inner_text() == "Audit de conformité Préau"
        assert page.get_by_role("heading", name="Synthèse", exact=True).is_visible()
        page.screenshot(path=str(shot), full_page=True)
        page.add_script_tag(content=_axe_source())
        violations = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
            .filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")
        browser.close()
    assert all(url.startswith("file://") for url in requests), requests
    assert violations == [], f"accessibility (axe-core): {violations}"


def test_the_sealed_report_verifies_and_an_edited_copy_fails(converged, auditor_key, tmp_path):
    """The full audit's directory, signed with the auditor's key, verifies against their public
    key; a copy with a file edited fails, and so does one whose manifest was rewritten to
    match (its signature no longer does)."""
    _, _, public = auditor_key
    full = REPORTS / "full"
    if not (full / "MANIFEST.asc").exists():
        _full_audit(auditor_key, "--control", *QUICK)
    verified = deploy("audit", "verify", str(full), "--key", str(public), check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    copy = tmp_path / "full"
    shutil.copytree(full, copy)
    (copy / "audit.json").write_text(
        (copy / "audit.json").read_text().replace('"failed"', '"x"', 1)
    )
    edited = deploy("audit", "verify", str(copy), "--key", str(public), check=False)
    assert edited.returncode == 1 and "audit.json: changed" in edited.stdout, edited.stdout
    from preau_ops.audit import seal

    manifest = copy / "MANIFEST"
    about = seal.verify(copy, None)[0]
    manifest.write_text(seal.manifest_text(copy, about))
    resealed = deploy("audit", "verify", str(copy), "--key", str(public), check=False)
    assert resealed.returncode == 1 and "bad signature" in resealed.stdout, resealed.stdout


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()

"""Uploads on the real platform (issue #16 item 6): clamd runs on every app host with the lab's
own signature (inventories/lab: no network, so no official database and freshclam masked), and
a teacher's upload through the lb is scanned: the lab's test file is refused with the threat's
name, a clean one is stored and downloaded with the private-file headers, nosniff once."""

from __future__ import annotations

import re
import uuid

import pytest

from preau_ops import audit, procedures
from preau_ops.paths import STATE_DIR

from .conftest import deploy, forgive_this_address
from .loadgen import Client

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

CA = str(STATE_DIR / "ca" / "ca.crt")
UAI = "0820021C"  # seed_demo's Collège Jean Moulin
MALWARE = b"PREAU-LAB-TEST-MALWARE\n"  # the signature of inventories/lab/group_vars/all/app.yml
THREAT = "Preau.Lab.Test.Malware.UNOFFICIAL"
# clamd's INSTREAM, as the app sends it, run on an app host as the app's user.
SCAN = (
    "import socket, struct, sys; d = sys.argv[1].encode() + b'\\n'; s = socket.socket(socket.AF_UNIX); "
    "s.connect('/run/clamav/clamd.ctl'); "
    "s.sendall(b'zINSTREAM\\0' + struct.pack('!L', len(d)) + d + struct.pack('!L', 0)); "
    "print(s.recv(4096).rstrip(b'\\0').decode())"
)


@pytest.fixture(scope="module")
def platform(lab):
    """This tree's app, then the app hosts converged (clamd, [antivirus] in preau.toml): the
    release first, so that the previous code never reads a configuration section it does not
    know."""
    deploy("release", timeout=1200)
    deploy("converge", "--limit", "app", "--tags", "app-runtime,app-antivirus", timeout=1800)
    demo = procedures.app_manage(lab, "seed_demo")
    forgive_this_address(lab)  # the login below is not held by an earlier login test
    client = Client(lab.hosts_in("lb")[0], CA)
    client.login("demo.prof", demo["password"])
    return lab, client


def upload(client, name, content):
    path = f"/e/{UAI}/documents/nouveau/"
    page = client.request("GET", path).data.decode()
    teaching = re.search(r'<option value="(\d+:\d*)"', page)[1]
    title = f"Essai antivirus {uuid.uuid4().hex[:8]}"
    answer = client.request(
        "POST",
        path,
        {
            "teaching": teaching,
            "title": title,
            "description": "",
            "file": (name, content, "application/pdf"),
        },
    )
    return answer, title


def test_clamd_runs_on_every_app_host_with_the_local_signature_only(platform):
    lab, _ = platform
    for host in lab.hosts_in("app"):
        remote = audit.testinfra_host(host)
        assert remote.service("clamav-daemon.service").is_running, host.name
        assert (
            remote.run("systemctl is-enabled clamav-freshclam.service").stdout.strip() == "masked"
        )
        found = remote.run("sudo -n -u preau python3 -c %s %s", SCAN, MALWARE.decode().strip())
        assert found.stdout.strip() == f"stream: {THREAT} FOUND", (
            host.name,
            found.stdout,
            found.stderr,
        )
        assert (
            remote.run("sudo -n -u preau python3 -c %s %s", SCAN, "cours").stdout.strip()
            == "stream: OK"
        )


def test_an_infected_upload_through_the_lb_is_refused_naming_the_threat(platform):
    _, client = platform
    answer, title = upload(client, "devoir.pdf", MALWARE)
    page = answer.data.decode()
    assert answer.status == 400 and THREAT in page, page[-2000:]
    assert title not in client.request("GET", f"/e/{UAI}/documents/").data.decode()


def test_a_clean_upload_is_stored_and_served_as_a_private_download(platform):
    _, client = platform
    content = b"%PDF-1.4 fiche de cours sans virus\n"
    answer, title = upload(client, "fiche.pdf", content)
    assert answer.status == 302, answer.data.decode()[-2000:]
    documents = client.request("GET", f"/e/{UAI}/documents/").data.decode()
    link = re.search(rf'{re.escape(title)}</p>.*?href="(/e/{UAI}/fichiers/\d+/)"', documents, re.S)
    download = client.request("GET", link[1])
    assert download.status == 200 and download.data == content
    assert download.headers.getlist("Cache-Control") == ["no-store"]
    assert download.headers.getlist("X-Content-Type-Options") == ["nosniff"]  # nginx's, once
    assert download.headers["Content-Disposition"].startswith('attachment; filename="fiche.pdf"')
